//! The second config phase: `ConfigShape` → `Settings`, checking every value a user can get wrong
//! and naming the field when one is refused. Derived values (the sampling threshold) are computed
//! here, once, at load.

use super::error::ConfigError;
use super::settings::{
    AttributeSettings, BatchSettings, CollectorSettings, Compression, Encoding, ExposeSettings,
    HeaderMatch, HostMatch, KeepSettings, LimitSettings, PathMatch, PropagationSettings,
    Propagator, RetrySettings, RuleMatch, RuleSettings, SamplerSettings, SamplingSettings,
    Settings, SpanKindSetting, StreamInfoReads, Threshold,
};
use super::shape::{
    AttributesShape, BatchShape, CollectorShape, ConfigShape, ExposeShape, KeepShape, LimitsShape,
    MatchShape, RetryShape, RuleShape, SamplingShape,
};
use crate::export::exporter::MAX_SPAN_BYTES;
use crate::memory::{worst_case_bytes, VM_MEMORY_CEILING};
use std::collections::BTreeMap;

/// Sampler names, in the order error messages list them.
pub const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
    "parentbased_ratelimited",
];
/// `span_kind` values.
pub const SPAN_KINDS: &[&str] = &["auto", "server", "client", "server_and_client"];
/// `attributes.stream_info` values.
pub const STREAM_INFO_READS: &[&str] = &["always", "on_error"];
/// Propagator names.
pub const PROPAGATORS: &[&str] = &["tracecontext", "baggage", "b3", "b3multi", "jaeger"];
/// `collector.encoding` values.
pub const ENCODINGS: &[&str] = &["protobuf", "json"];
/// `collector.compression` values.
pub const COMPRESSIONS: &[&str] = &["none", "gzip"];
/// The smallest `batch.max_queue_bytes`: below this not even one ordinary span fits.
pub const MIN_QUEUE_BYTES: u64 = 1024;
/// The most export requests one VM may have in flight.
pub const MAX_CONCURRENT_EXPORTS: u64 = 64;
/// The shortest retry backoff: a failing collector is not to be hammered.
pub const MIN_BACKOFF_MS: u64 = 100;
/// Bounds of `limits.attribute_value_length`: below the lower one a redacted query or a URL says
/// nothing; above the upper one a few captured headers would outweigh the rest of a span.
pub const ATTRIBUTE_VALUE_LENGTH_RANGE: (u64, u64) = (32, 65_536);
/// Headers that carry credentials: captured as span attributes only with
/// `attributes.allow_sensitive: true`, since spans go to a collector and its readers.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];
/// Headers the exporter writes itself; a configured value would clash with them.
pub const RESERVED_COLLECTOR_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
];

impl TryFrom<ConfigShape> for Settings {
    type Error = ConfigError;

    fn try_from(c: ConfigShape) -> Result<Self, ConfigError> {
        if let Some(name) = &c.service_name {
            non_empty("service_name", name)?;
        }
        for key in c.resource_attributes.keys() {
            non_empty("resource_attributes", key)?;
        }
        let batch = batch(&c.batch)?;
        memory_ceiling(&batch)?;
        let attributes = attributes(c.attributes)?;
        let limits = limits(&c.limits)?;
        span_fits(&attributes, &limits)?;
        Ok(Settings {
            service_name: c.service_name,
            resource_attributes: c.resource_attributes,
            sampler: sampler("", &c.sampler, c.sampler_arg)?,
            trust_incoming: c.trust_incoming,
            span_kind: span_kind(&c.span_kind)?,
            propagation: PropagationSettings {
                extract: propagators("propagation.extract", &c.propagation.extract)?,
                inject: propagators("propagation.inject", &c.propagation.inject)?,
                trusted_baggage: c.propagation.trusted_baggage,
            },
            attributes,
            redact_query: c.redact_query,
            collector: collector(c.collector)?,
            batch,
            retry: retry(&c.retry)?,
            keep: keep(&c.keep)?,
            limits,
            sampling: sampling(&c.sampling)?,
            expose: expose(c.expose)?,
        })
    }
}

/// `"unknown {what} \"{got}\", expected one of a, b, c"`.
fn unknown(field: &str, what: &str, got: &str, known: &[&str]) -> ConfigError {
    ConfigError::new(
        field,
        format!(
            "unknown {what} {got:?}, expected one of {}",
            known.join(", ")
        ),
    )
}

fn non_empty(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        Err(ConfigError::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// A sampler name and its argument; `prefix` is where they sit (`""` at the top level,
/// `sampling.rules[2].` in a rule).
fn sampler(prefix: &str, name: &str, arg: f64) -> Result<SamplerSettings, ConfigError> {
    let arg_field = || format!("{prefix}sampler_arg");
    let ratio = || -> Result<Threshold, ConfigError> {
        if !(0.0..=1.0).contains(&arg) {
            return Err(ConfigError::new(
                arg_field(),
                format!("must be within [0, 1] for {name}, got {arg:?}"),
            ));
        }
        Threshold::from_ratio(arg).ok_or_else(|| {
            ConfigError::new(
                arg_field(),
                format!(
                    "must be 0 or at least 2^-56 for {name} (the smallest ratio a 56-bit \
                     threshold can express), got {arg:?}"
                ),
            )
        })
    };
    Ok(match name {
        "always_on" => SamplerSettings::AlwaysOn,
        "always_off" => SamplerSettings::AlwaysOff,
        "traceidratio" => SamplerSettings::TraceIdRatio(ratio()?),
        "parentbased_always_on" => SamplerSettings::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerSettings::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerSettings::ParentBasedTraceIdRatio(ratio()?),
        "parentbased_ratelimited" => {
            if !(arg.is_finite() && arg > 0.0) {
                return Err(ConfigError::new(
                    arg_field(),
                    format!("must be > 0 for {name} (root traces per second), got {arg:?}"),
                ));
            }
            SamplerSettings::ParentBasedRateLimited { per_second: arg }
        }
        _ => {
            let field = format!("{prefix}sampler");
            return Err(unknown(&field, "sampler", name, SAMPLERS));
        }
    })
}

fn span_kind(name: &str) -> Result<SpanKindSetting, ConfigError> {
    Ok(match name {
        "auto" => SpanKindSetting::Auto,
        "server" => SpanKindSetting::Server,
        "client" => SpanKindSetting::Client,
        "server_and_client" => SpanKindSetting::ServerAndClient,
        _ => return Err(unknown("span_kind", "span kind", name, SPAN_KINDS)),
    })
}

/// Known names in the given order, repeats dropped.
fn propagators(field: &str, names: &[String]) -> Result<Vec<Propagator>, ConfigError> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let p = match name.as_str() {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "b3" => Propagator::B3,
            "b3multi" => Propagator::B3Multi,
            "jaeger" => Propagator::Jaeger,
            _ => return Err(unknown(field, "propagator", name, PROPAGATORS)),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if field == "propagation.extract" && out.is_empty() {
        return Err(ConfigError::new(
            field,
            format!(
                "must name at least one propagator: {}",
                PROPAGATORS.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// RFC 9110 `tchar`: what a header field name may contain.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A header name, lower-cased (Envoy stores header names in lower case). `allow_pseudo` admits
/// `:authority`-style names, which can be read but not sent.
fn header_name(field: &str, name: &str, allow_pseudo: bool) -> Result<String, ConfigError> {
    let token = match name.strip_prefix(':') {
        Some(rest) if allow_pseudo => rest,
        Some(_) => {
            return Err(ConfigError::new(
                field,
                format!("pseudo-header {name:?} cannot be set"),
            ))
        }
        None => name,
    };
    if token.is_empty() || !token.bytes().all(is_tchar) {
        return Err(ConfigError::new(
            field,
            format!("invalid header name {name:?}"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// Header name → attribute name, names lower-cased; two spellings of one header are refused.
fn header_attributes(
    field: &str,
    map: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (header, attribute) in map {
        let lower = header_name(field, &header, true)?;
        if attribute.is_empty() {
            return Err(ConfigError::new(
                field,
                format!("attribute name for header {header:?} must not be empty"),
            ));
        }
        if out.insert(lower, attribute).is_some() {
            return Err(ConfigError::new(
                field,
                format!("header {header:?} is listed twice (names are case-insensitive)"),
            ));
        }
    }
    Ok(out)
}

fn attributes(a: AttributesShape) -> Result<AttributeSettings, ConfigError> {
    for key in a.r#static.keys() {
        non_empty("attributes.static", key)?;
    }
    let mut request_headers = header_attributes("attributes.request_headers", a.request_headers)?;
    if a.request_id {
        // A name the user chose for the same header wins.
        request_headers
            .entry(REQUEST_ID_HEADER.to_owned())
            .or_insert_with(|| REQUEST_ID_ATTRIBUTE.to_owned());
    }
    let response_headers = header_attributes("attributes.response_headers", a.response_headers)?;
    if !a.allow_sensitive {
        not_sensitive("attributes.request_headers", &request_headers)?;
        not_sensitive("attributes.response_headers", &response_headers)?;
    }
    Ok(AttributeSettings {
        request_headers,
        response_headers,
        allow_sensitive: a.allow_sensitive,
        r#static: a.r#static,
        stream_info: match a.stream_info.as_str() {
            "always" => StreamInfoReads::Always,
            "on_error" => StreamInfoReads::OnError,
            other => {
                return Err(unknown(
                    "attributes.stream_info",
                    "value",
                    other,
                    STREAM_INFO_READS,
                ))
            }
        },
    })
}

/// Refuse a credential header in a capture map (names are lower-case already).
fn not_sensitive(field: &str, map: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    match map.keys().find(|h| SENSITIVE_HEADERS.contains(&h.as_str())) {
        Some(h) => Err(ConfigError::new(
            field,
            format!(
                "{h:?} carries credentials and would be exported in spans; remove it, or set \
                 attributes.allow_sensitive: true if that is intended"
            ),
        )),
        None => Ok(()),
    }
}

fn limits(l: &LimitsShape) -> Result<LimitSettings, ConfigError> {
    let (lo, hi) = ATTRIBUTE_VALUE_LENGTH_RANGE;
    let v = l.attribute_value_length;
    if !(lo..=hi).contains(&v) {
        return Err(ConfigError::new(
            "limits.attribute_value_length",
            format!("must be within [{lo}, {hi}] bytes, got {v}"),
        ));
    }
    Ok(LimitSettings {
        attribute_value_length: count("limits.attribute_value_length", v)?,
    })
}

/// String attributes a span carries at most besides the captured and static ones (the HTTP and
/// Envoy facts, `error.type`, the status message), each counted with its key and framing.
const FIXED_STRING_ATTRIBUTES: usize = 16;
/// Key and framing bytes per attribute, a generous bound.
const ATTRIBUTE_OVERHEAD: usize = 128;
/// The largest `tracestate` a client can have us keep: 32 members of 256-byte keys and values.
const MAX_TRACESTATE_BYTES: usize = 32 * (256 + 1 + 256 + 1);

/// Refuse an attribute limit under which a span could outgrow the largest span the queue takes:
/// such a span would be dropped as `too_large` because of what a client sent.
fn span_fits(a: &AttributeSettings, l: &LimitSettings) -> Result<(), ConfigError> {
    let values = FIXED_STRING_ATTRIBUTES + a.request_headers.len() + a.response_headers.len();
    let statics: usize = a
        .r#static
        .iter()
        .map(|(k, v)| k.len() + v.len() + ATTRIBUTE_OVERHEAD)
        .sum();
    let worst = values
        .saturating_mul(l.attribute_value_length + ATTRIBUTE_OVERHEAD)
        .saturating_add(statics)
        .saturating_add(MAX_TRACESTATE_BYTES + 1024);
    if worst > MAX_SPAN_BYTES {
        return Err(ConfigError::new(
            "limits.attribute_value_length",
            format!(
                "{} bytes for each of up to {values} string attributes could make a span of \
                 {worst} bytes, over the {MAX_SPAN_BYTES} a span may have",
                l.attribute_value_length
            ),
        ));
    }
    Ok(())
}

/// Refuse batch bounds whose worst case, with the stream table, does not fit the per-VM ceiling.
/// The field named is the one whose lowering helps: more than one export in flight multiplies
/// the batch bodies, so when one in flight would fit, that is the key to change.
fn memory_ceiling(b: &BatchSettings) -> Result<(), ConfigError> {
    let worst = worst_case_bytes(b);
    if worst.total() <= VM_MEMORY_CEILING {
        return Ok(());
    }
    let one_in_flight = BatchSettings {
        max_concurrent_exports: 1,
        ..*b
    };
    let field = if b.max_concurrent_exports > 1
        && worst_case_bytes(&one_in_flight).total() <= VM_MEMORY_CEILING
    {
        "batch.max_concurrent_exports"
    } else {
        "batch.max_queue_bytes"
    };
    Err(ConfigError::new(
        field,
        format!(
            "the worst case per VM is {worst}, over the {} MiB ceiling",
            VM_MEMORY_CEILING >> 20
        ),
    ))
}

fn collector(c: CollectorShape) -> Result<CollectorSettings, ConfigError> {
    non_empty("collector.cluster", &c.cluster)?;
    let authority = match c.authority {
        Some(a) => {
            non_empty("collector.authority", &a)?;
            if a.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(ConfigError::new(
                    "collector.authority",
                    format!("must not contain spaces or control characters, got {a:?}"),
                ));
            }
            a
        }
        None => c.cluster.clone(),
    };
    if !c.path.starts_with('/') {
        return Err(ConfigError::new(
            "collector.path",
            format!("must start with \"/\", got {:?}", c.path),
        ));
    }
    if c.path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(ConfigError::new(
            "collector.path",
            format!(
                "must not contain spaces or control characters, got {:?}",
                c.path
            ),
        ));
    }
    let mut headers: Vec<(String, String)> = Vec::with_capacity(c.headers.len());
    for (name, value) in c.headers {
        let lower = header_name("collector.headers", &name, false)?;
        if RESERVED_COLLECTOR_HEADERS.contains(&lower.as_str()) {
            return Err(ConfigError::new(
                "collector.headers",
                format!("{name:?} is set by the exporter and cannot be configured"),
            ));
        }
        // CR, LF and NUL would split or truncate the header on the wire; tab is allowed.
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(ConfigError::new(
                "collector.headers",
                format!("value of {name:?} must not contain control characters"),
            ));
        }
        if headers.iter().any(|(n, _)| *n == lower) {
            return Err(ConfigError::new(
                "collector.headers",
                format!("header {name:?} is listed twice (names are case-insensitive)"),
            ));
        }
        headers.push((lower, value));
    }
    if c.timeout_ms == 0 {
        return Err(ConfigError::new(
            "collector.timeout_ms",
            "must be > 0, got 0",
        ));
    }
    let encoding = match c.encoding.as_str() {
        "protobuf" => Encoding::Protobuf,
        "json" => Encoding::Json,
        other => return Err(unknown("collector.encoding", "encoding", other, ENCODINGS)),
    };
    let compression = match c.compression.as_str() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        other => {
            return Err(unknown(
                "collector.compression",
                "compression",
                other,
                COMPRESSIONS,
            ))
        }
    };
    Ok(CollectorSettings {
        cluster: c.cluster,
        authority,
        path: c.path,
        headers,
        timeout_ms: c.timeout_ms,
        encoding,
        compression,
    })
}

fn positive(field: &str, v: u64) -> Result<u64, ConfigError> {
    if v == 0 {
        Err(ConfigError::new(field, "must be > 0, got 0"))
    } else {
        Ok(v)
    }
}

/// A count held in memory: must fit the target's `usize` (32 bits in wasm).
fn count(field: &str, v: u64) -> Result<usize, ConfigError> {
    usize::try_from(v)
        .map_err(|_| ConfigError::new(field, format!("must be at most {}, got {v}", usize::MAX)))
}

fn batch(b: &BatchShape) -> Result<BatchSettings, ConfigError> {
    let max_queue_size = positive("batch.max_queue_size", b.max_queue_size)?;
    if b.max_queue_bytes < MIN_QUEUE_BYTES {
        return Err(ConfigError::new(
            "batch.max_queue_bytes",
            format!("must be >= {MIN_QUEUE_BYTES}, got {}", b.max_queue_bytes),
        ));
    }
    let max_export_batch_size = positive("batch.max_export_batch_size", b.max_export_batch_size)?;
    if max_export_batch_size > max_queue_size {
        return Err(ConfigError::new(
            "batch.max_export_batch_size",
            format!(
                "must be <= batch.max_queue_size ({max_queue_size}), got {max_export_batch_size}"
            ),
        ));
    }
    let schedule_delay_ms = positive("batch.schedule_delay_ms", b.schedule_delay_ms)?;
    if !(1..=MAX_CONCURRENT_EXPORTS).contains(&b.max_concurrent_exports) {
        return Err(ConfigError::new(
            "batch.max_concurrent_exports",
            format!(
                "must be within [1, {MAX_CONCURRENT_EXPORTS}], got {}",
                b.max_concurrent_exports
            ),
        ));
    }
    Ok(BatchSettings {
        max_queue_size: count("batch.max_queue_size", max_queue_size)?,
        max_queue_bytes: count("batch.max_queue_bytes", b.max_queue_bytes)?,
        max_export_batch_size: count("batch.max_export_batch_size", max_export_batch_size)?,
        schedule_delay_ms,
        max_concurrent_exports: count("batch.max_concurrent_exports", b.max_concurrent_exports)?,
    })
}

fn retry(r: &RetryShape) -> Result<RetrySettings, ConfigError> {
    let initial_backoff_ms = r.initial_backoff_ms;
    if initial_backoff_ms < MIN_BACKOFF_MS {
        return Err(ConfigError::new(
            "retry.initial_backoff_ms",
            format!("must be >= {MIN_BACKOFF_MS}, got {initial_backoff_ms}"),
        ));
    }
    if r.max_backoff_ms < initial_backoff_ms {
        return Err(ConfigError::new(
            "retry.max_backoff_ms",
            format!(
                "must be >= retry.initial_backoff_ms ({initial_backoff_ms}), got {}",
                r.max_backoff_ms
            ),
        ));
    }
    // max_elapsed_ms = 0 is allowed: it means "never retry".
    Ok(RetrySettings {
        initial_backoff_ms,
        max_backoff_ms: r.max_backoff_ms,
        max_elapsed_ms: r.max_elapsed_ms,
    })
}

/// Envoy's request id header, captured by `attributes.request_id`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Its attribute, named as the semantic conventions name any captured request header.
pub const REQUEST_ID_ATTRIBUTE: &str = "http.request.header.x-request-id";

/// Response headers `expose.trace_id_header` may not name: hoptrace's own, and those that frame
/// or route the message, where a trace id would break the response.
pub const RESERVED_RESPONSE_HEADERS: &[&str] = &[
    "server-timing",
    "traceparent",
    "tracestate",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "location",
    "set-cookie",
];

fn expose(e: ExposeShape) -> Result<ExposeSettings, ConfigError> {
    const FIELD: &str = "expose.trace_id_header";
    let trace_id_header = match e.trace_id_header {
        None => None,
        Some(name) => {
            let lower = header_name(FIELD, &name, false)?;
            if RESERVED_RESPONSE_HEADERS.contains(&lower.as_str()) {
                return Err(ConfigError::new(
                    FIELD,
                    format!("{name:?} cannot carry the trace id: the response needs it"),
                ));
            }
            Some(lower)
        }
    };
    Ok(ExposeSettings {
        server_timing: e.server_timing,
        trace_id_header,
        access_log: e.access_log,
    })
}

/// The most kept traces per second a VM may export: beyond this "keep" is sampling everything.
pub const MAX_KEEP_PER_SECOND: u64 = 100_000;

fn keep(k: &KeepShape) -> Result<KeepSettings, ConfigError> {
    let max_per_second = positive("keep.max_per_second", k.max_per_second)?;
    if max_per_second > MAX_KEEP_PER_SECOND {
        return Err(ConfigError::new(
            "keep.max_per_second",
            format!("must be at most {MAX_KEEP_PER_SECOND}, got {max_per_second}"),
        ));
    }
    Ok(KeepSettings {
        errors: k.errors,
        slower_than_ms: k.slower_than_ms,
        max_per_second,
    })
}

/// The most sampling rules: matching stays a bounded number of comparisons per request.
pub const MAX_RULES: usize = 64;
/// The longest rule name (it becomes part of a metric name).
pub const MAX_RULE_NAME_LENGTH: usize = 64;
/// The longest `match.host` (a DNS name).
pub const MAX_MATCH_HOST_LENGTH: usize = 253;
/// The longest `match.path` / `match.path_prefix`.
pub const MAX_MATCH_PATH_LENGTH: usize = 1024;
/// The longest `match.method`.
pub const MAX_MATCH_METHOD_LENGTH: usize = 32;
/// The longest `match.header.name`.
pub const MAX_MATCH_HEADER_NAME_LENGTH: usize = 128;
/// The longest `match.header.value`.
pub const MAX_MATCH_HEADER_VALUE_LENGTH: usize = 1024;

fn sampling(s: &SamplingShape) -> Result<SamplingSettings, ConfigError> {
    if s.rules.len() > MAX_RULES {
        return Err(ConfigError::new(
            "sampling.rules",
            format!("at most {MAX_RULES} rules, got {}", s.rules.len()),
        ));
    }
    let mut rules: Vec<RuleSettings> = Vec::with_capacity(s.rules.len());
    for (i, r) in s.rules.iter().enumerate() {
        let prefix = format!("sampling.rules[{i}].");
        let rule = rule(&prefix, r)?;
        if let Some(name) = &rule.name {
            if rules.iter().any(|o| o.name.as_ref() == Some(name)) {
                return Err(ConfigError::new(
                    format!("{prefix}name"),
                    format!("{name:?} names an earlier rule too; names must be unique"),
                ));
            }
        }
        rules.push(rule);
    }
    Ok(SamplingSettings { rules })
}

fn rule(prefix: &str, r: &RuleShape) -> Result<RuleSettings, ConfigError> {
    if let Some(name) = &r.name {
        rule_name(&format!("{prefix}name"), name)?;
    }
    if r.sampler.is_empty() {
        return Err(ConfigError::new(
            format!("{prefix}sampler"),
            format!("must be set: one of {}", SAMPLERS.join(", ")),
        ));
    }
    Ok(RuleSettings {
        name: r.name.clone(),
        matcher: rule_match(&format!("{prefix}match"), &r.matcher)?,
        sampler: sampler(prefix, &r.sampler, r.sampler_arg)?,
    })
}

/// A rule name becomes a metric name's last part and a span attribute value: lower-case letters,
/// digits and `_`, starting with a letter.
fn rule_name(field: &str, name: &str) -> Result<(), ConfigError> {
    let valid = name.len() <= MAX_RULE_NAME_LENGTH
        && name.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!(
                "{name:?} must be 1 to {MAX_RULE_NAME_LENGTH} of a-z, 0-9 and _, starting with a \
                 letter (it becomes part of a metric name)"
            ),
        ))
    }
}

fn at_most(field: &str, value: &str, max: usize) -> Result<(), ConfigError> {
    if value.len() > max {
        Err(ConfigError::new(
            field,
            format!("at most {max} bytes, got {}", value.len()),
        ))
    } else {
        Ok(())
    }
}

fn rule_match(field: &str, m: &MatchShape) -> Result<RuleMatch, ConfigError> {
    let host = match &m.host {
        Some(h) => Some(host_match(&format!("{field}.host"), h)?),
        None => None,
    };
    let path = match (&m.path, &m.path_prefix) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                format!("{field}.path_prefix"),
                "give either path or path_prefix, not both",
            ))
        }
        (Some(p), None) => Some(PathMatch::Exact(path_value(&format!("{field}.path"), p)?)),
        (None, Some(p)) => Some(PathMatch::Prefix(path_value(
            &format!("{field}.path_prefix"),
            p,
        )?)),
        (None, None) => None,
    };
    let method = match &m.method {
        Some(v) => {
            let f = format!("{field}.method");
            at_most(&f, v, MAX_MATCH_METHOD_LENGTH)?;
            if v.is_empty() || !v.bytes().all(is_tchar) {
                return Err(ConfigError::new(f, format!("invalid method {v:?}")));
            }
            Some(v.clone())
        }
        None => None,
    };
    let header = match &m.header {
        Some(h) => {
            let f = format!("{field}.header.name");
            at_most(&f, &h.name, MAX_MATCH_HEADER_NAME_LENGTH)?;
            let name = header_name(&f, &h.name, false).map_err(|e| {
                ConfigError::new(
                    e.field,
                    format!(
                        "{} (use host, path or method for pseudo-headers)",
                        e.message
                    ),
                )
            })?;
            if let Some(v) = &h.value {
                at_most(
                    &format!("{field}.header.value"),
                    v,
                    MAX_MATCH_HEADER_VALUE_LENGTH,
                )?;
            }
            Some(HeaderMatch {
                name,
                value: h.value.clone(),
            })
        }
        None => None,
    };
    if host.is_none() && path.is_none() && method.is_none() && header.is_none() {
        return Err(ConfigError::new(
            field,
            "must hold at least one of host, path, path_prefix, method, header (the top-level \
             sampler decides what no rule matches)",
        ));
    }
    Ok(RuleMatch {
        host,
        path,
        method,
        header,
    })
}

fn path_value(field: &str, p: &str) -> Result<String, ConfigError> {
    at_most(field, p, MAX_MATCH_PATH_LENGTH)?;
    if !p.starts_with('/') {
        return Err(ConfigError::new(
            field,
            format!("must start with \"/\", got {p:?}"),
        ));
    }
    if p.contains(['?', '#']) {
        return Err(ConfigError::new(
            field,
            format!("the path is matched without its query: remove from \"?\" on, got {p:?}"),
        ));
    }
    Ok(p.to_owned())
}

fn host_match(field: &str, h: &str) -> Result<HostMatch, ConfigError> {
    at_most(field, h, MAX_MATCH_HOST_LENGTH)?;
    let lower = h.to_ascii_lowercase();
    let (suffix, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_');
    if !valid {
        return Err(ConfigError::new(
            field,
            format!(
                "{h:?} must be a host name, or *. and a domain (no port: the port is not matched)"
            ),
        ));
    }
    Ok(if suffix {
        HostMatch::Suffix(format!(".{name}"))
    } else {
        HostMatch::Exact(name.to_owned())
    })
}
