//! The configuration as users write it: serde structs mirroring the JSON keys of the README's
//! reference table, with defaults and `deny_unknown_fields`, and no validation beyond JSON types.
//!
//! `validate` turns a shape into runtime `Settings`; keeping the two apart keeps serde's job (types,
//! unknown keys) separate from ours (ranges, names), and each error names its field.

use super::defaults as d;
use serde::de::DeserializeOwned;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The whole plugin configuration (Envoy `configuration`, Istio `pluginConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct ConfigShape {
    /// `service_name`: resource `service.name`; absent means the Istio workload name or
    /// `unknown_service:envoy`.
    pub service_name: Option<String>,
    /// `resource_attributes`: extra resource attributes (default `{}`).
    pub resource_attributes: BTreeMap<String, String>,
    /// `sampler`: an `OTEL_TRACES_SAMPLER` name or `parentbased_ratelimited` (default
    /// `parentbased_traceidratio`).
    pub sampler: String,
    /// `sampler_arg`: ratio for `*traceidratio`, root traces per second for `*ratelimited`
    /// (default 1.0).
    pub sampler_arg: f64,
    /// `trust_incoming` (default true).
    pub trust_incoming: bool,
    /// `span_kind`: `auto`, `server`, `client` or `server_and_client` (default `auto`).
    pub span_kind: String,
    /// `propagation`.
    #[serde(deserialize_with = "object")]
    pub propagation: PropagationShape,
    /// `attributes`.
    #[serde(deserialize_with = "object")]
    pub attributes: AttributesShape,
    /// `redact_query` (default true).
    pub redact_query: bool,
    /// `collector`.
    #[serde(deserialize_with = "object")]
    pub collector: CollectorShape,
    /// `batch`.
    #[serde(deserialize_with = "object")]
    pub batch: BatchShape,
    /// `retry`.
    #[serde(deserialize_with = "object")]
    pub retry: RetryShape,
    /// `keep`.
    #[serde(deserialize_with = "object")]
    pub keep: KeepShape,
    /// `limits`.
    #[serde(deserialize_with = "object")]
    pub limits: LimitsShape,
    /// `sampling`.
    #[serde(deserialize_with = "object")]
    pub sampling: SamplingShape,
    /// `expose`.
    #[serde(deserialize_with = "object")]
    pub expose: ExposeShape,
}

impl Default for ConfigShape {
    fn default() -> Self {
        ConfigShape {
            service_name: None,
            resource_attributes: BTreeMap::new(),
            sampler: d::SAMPLER.to_owned(),
            sampler_arg: d::SAMPLER_ARG,
            trust_incoming: d::TRUST_INCOMING,
            span_kind: d::SPAN_KIND.to_owned(),
            propagation: PropagationShape::default(),
            attributes: AttributesShape::default(),
            redact_query: d::REDACT_QUERY,
            collector: CollectorShape::default(),
            batch: BatchShape::default(),
            retry: RetryShape::default(),
            keep: KeepShape::default(),
            limits: LimitsShape::default(),
            sampling: SamplingShape::default(),
            expose: ExposeShape::default(),
        }
    }
}

/// `sampling.*`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct SamplingShape {
    /// `sampling.rules`: ordered; the first rule whose `match` holds decides (default `[]`).
    pub rules: Vec<RuleShape>,
}

/// One `sampling.rules[i]`. Every field has a default so that a bad value is reported against its
/// own field; validation then refuses what is missing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct RuleShape {
    /// `name`: names the rule in the span attribute and its metrics (optional).
    pub name: Option<String>,
    /// `match`: what the request must carry.
    #[serde(rename = "match", deserialize_with = "object")]
    pub matcher: MatchShape,
    /// `sampler`: as the top-level `sampler` (required).
    pub sampler: String,
    /// `sampler_arg`: as the top-level `sampler_arg` (default 1.0).
    pub sampler_arg: f64,
}

impl Default for RuleShape {
    fn default() -> Self {
        RuleShape {
            name: None,
            matcher: MatchShape::default(),
            sampler: String::new(),
            sampler_arg: d::SAMPLER_ARG,
        }
    }
}

/// `sampling.rules[i].match`: every condition given must hold.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct MatchShape {
    /// `host`: `:authority` without its port, exact or `*.suffix`, case-insensitive.
    pub host: Option<String>,
    /// `path`: `:path` without its query, exact.
    pub path: Option<String>,
    /// `path_prefix`: `:path` without its query starts with this.
    pub path_prefix: Option<String>,
    /// `method`: `:method`, exact.
    pub method: Option<String>,
    /// `header`: a request header present, optionally with an exact value.
    pub header: Option<HeaderMatchShape>,
}

/// `sampling.rules[i].match.header`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct HeaderMatchShape {
    /// `name`: the header name (required).
    pub name: String,
    /// `value`: one line of the header must equal this; absent means any value.
    pub value: Option<String>,
}

/// `propagation.*`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct PropagationShape {
    /// `propagation.extract` (default `["tracecontext","baggage"]`).
    pub extract: Vec<String>,
    /// `propagation.inject` (default `["tracecontext","baggage"]`).
    pub inject: Vec<String>,
    /// `propagation.trusted_baggage` (default false).
    pub trusted_baggage: bool,
}

impl Default for PropagationShape {
    fn default() -> Self {
        let names: Vec<String> = d::PROPAGATORS.iter().map(|s| (*s).to_owned()).collect();
        PropagationShape {
            extract: names.clone(),
            inject: names,
            trusted_baggage: d::TRUSTED_BAGGAGE,
        }
    }
}

/// `attributes.*` (the maps default to `{}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct AttributesShape {
    /// `attributes.request_headers`: header name → attribute name.
    pub request_headers: BTreeMap<String, String>,
    /// `attributes.response_headers`: header name → attribute name.
    pub response_headers: BTreeMap<String, String>,
    /// `attributes.static`: attribute name → value.
    pub r#static: BTreeMap<String, String>,
    /// `attributes.stream_info`: `always` or `on_error` (default `always`).
    pub stream_info: String,
    /// `attributes.allow_sensitive` (default false).
    pub allow_sensitive: bool,
    /// `attributes.request_id`: Envoy's `x-request-id` as `http.request.header.x-request-id`
    /// (default false).
    pub request_id: bool,
}

impl Default for AttributesShape {
    fn default() -> Self {
        AttributesShape {
            request_headers: BTreeMap::new(),
            response_headers: BTreeMap::new(),
            r#static: BTreeMap::new(),
            stream_info: d::STREAM_INFO.to_owned(),
            allow_sensitive: d::ALLOW_SENSITIVE,
            request_id: d::REQUEST_ID,
        }
    }
}

/// `expose.*`: the hop's ids made visible outside the trace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct ExposeShape {
    /// `expose.server_timing` (default false).
    pub server_timing: bool,
    /// `expose.trace_id_header`: a response header name (default none).
    pub trace_id_header: Option<String>,
    /// `expose.access_log` (default false).
    pub access_log: bool,
}

impl Default for ExposeShape {
    fn default() -> Self {
        ExposeShape {
            server_timing: d::EXPOSE_SERVER_TIMING,
            trace_id_header: None,
            access_log: d::EXPOSE_ACCESS_LOG,
        }
    }
}

/// `collector.*`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct CollectorShape {
    /// `collector.cluster` (default `otlp_collector`).
    pub cluster: String,
    /// `collector.authority` (default: the cluster name).
    pub authority: Option<String>,
    /// `collector.path` (default `/v1/traces`).
    pub path: String,
    /// `collector.headers` (default `{}`).
    pub headers: BTreeMap<String, String>,
    /// `collector.timeout_ms` (default 10000).
    #[serde(deserialize_with = "whole_number")]
    pub timeout_ms: u64,
    /// `collector.encoding`: `protobuf` or `json` (default `protobuf`).
    pub encoding: String,
    /// `collector.compression`: `none` or `gzip` (default `none`).
    pub compression: String,
}

impl Default for CollectorShape {
    fn default() -> Self {
        CollectorShape {
            cluster: d::COLLECTOR_CLUSTER.to_owned(),
            authority: None,
            path: d::COLLECTOR_PATH.to_owned(),
            headers: BTreeMap::new(),
            timeout_ms: d::COLLECTOR_TIMEOUT_MS,
            encoding: d::COLLECTOR_ENCODING.to_owned(),
            compression: d::COLLECTOR_COMPRESSION.to_owned(),
        }
    }
}

/// `batch.*` (OTel `OTEL_BSP_*`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct BatchShape {
    /// `batch.max_queue_size` (default 2048).
    #[serde(deserialize_with = "whole_number")]
    pub max_queue_size: u64,
    /// `batch.max_queue_bytes` (default 4194304).
    #[serde(deserialize_with = "whole_number")]
    pub max_queue_bytes: u64,
    /// `batch.max_export_batch_size` (default 512).
    #[serde(deserialize_with = "whole_number")]
    pub max_export_batch_size: u64,
    /// `batch.schedule_delay_ms` (default 5000).
    #[serde(deserialize_with = "whole_number")]
    pub schedule_delay_ms: u64,
    /// `batch.max_concurrent_exports` (default 1).
    #[serde(deserialize_with = "whole_number")]
    pub max_concurrent_exports: u64,
}

impl Default for BatchShape {
    fn default() -> Self {
        BatchShape {
            max_queue_size: d::MAX_QUEUE_SIZE,
            max_queue_bytes: d::MAX_QUEUE_BYTES,
            max_export_batch_size: d::MAX_EXPORT_BATCH_SIZE,
            schedule_delay_ms: d::SCHEDULE_DELAY_MS,
            max_concurrent_exports: d::MAX_CONCURRENT_EXPORTS,
        }
    }
}

/// `retry.*`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct RetryShape {
    /// `retry.initial_backoff_ms` (default 1000).
    #[serde(deserialize_with = "whole_number")]
    pub initial_backoff_ms: u64,
    /// `retry.max_backoff_ms` (default 30000).
    #[serde(deserialize_with = "whole_number")]
    pub max_backoff_ms: u64,
    /// `retry.max_elapsed_ms` (default 60000).
    #[serde(deserialize_with = "whole_number")]
    pub max_elapsed_ms: u64,
}

impl Default for RetryShape {
    fn default() -> Self {
        RetryShape {
            initial_backoff_ms: d::INITIAL_BACKOFF_MS,
            max_backoff_ms: d::MAX_BACKOFF_MS,
            max_elapsed_ms: d::MAX_ELAPSED_MS,
        }
    }
}

/// `limits.*` (OTel span limits).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct LimitsShape {
    /// `limits.attribute_value_length` (default 1024).
    #[serde(deserialize_with = "whole_number")]
    pub attribute_value_length: u64,
}

impl Default for LimitsShape {
    fn default() -> Self {
        LimitsShape {
            attribute_value_length: d::ATTRIBUTE_VALUE_LENGTH,
        }
    }
}

/// `keep.*`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a JSON object")]
pub struct KeepShape {
    /// `keep.errors` (default true).
    pub errors: bool,
    /// `keep.slower_than_ms` (default 0: off).
    #[serde(deserialize_with = "whole_number")]
    pub slower_than_ms: u64,
    /// `keep.max_per_second` (default 100).
    #[serde(deserialize_with = "whole_number")]
    pub max_per_second: u64,
}

impl Default for KeepShape {
    fn default() -> Self {
        KeepShape {
            errors: d::KEEP_ERRORS,
            slower_than_ms: d::KEEP_SLOWER_THAN_MS,
            max_per_second: d::KEEP_MAX_PER_SECOND,
        }
    }
}

/// A nested section: only a JSON object will do. Derived struct deserializers also take an array
/// of values by position, which would let `"batch": [1, 2]` mean something by accident.
fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    let v = Value::deserialize(d)?;
    if !v.is_object() {
        return Err(de::Error::invalid_type(unexpected(&v), &"a JSON object"));
    }
    T::deserialize(v).map_err(de::Error::custom)
}

/// How serde names the kind of `v` in an "invalid type" message.
pub(crate) fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Other("null"),
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Unexpected::Unsigned(u),
            (None, Some(i), _) => Unexpected::Signed(i),
            (None, None, Some(f)) => Unexpected::Float(f),
            (None, None, None) => Unexpected::Other("number"),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// A non-negative whole number. Istio hands `pluginConfig` over as a protobuf `Struct`, whose
/// numbers are doubles, so `5000.0` must read as 5000 just like `5000`.
fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(WholeNumber)
}

/// The visitor behind [`whole_number`].
struct WholeNumber;

/// 2^64 as a float: the first double too large for a u64.
const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;

impl Visitor<'_> for WholeNumber {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative whole number")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        if v.fract() == 0.0 && (0.0..U64_LIMIT).contains(&v) {
            // Whole and in range, so the conversion is exact.
            Ok(v as u64)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}
