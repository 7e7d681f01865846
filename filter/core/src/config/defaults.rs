//! The documented defaults, in one place: the serde shape starts from them and `Settings::default()`
//! is built from them, so the two can never disagree.

use super::settings::{
    AttributeSettings, BatchSettings, CollectorSettings, Compression, Encoding, ExposeSettings,
    KeepSettings, LimitSettings, PropagationSettings, Propagator, RetrySettings, SamplerSettings,
    SamplingSettings, Settings, SpanKindSetting, Threshold,
};
use std::collections::BTreeMap;

/// `sampler`.
pub const SAMPLER: &str = "parentbased_traceidratio";
/// `sampler_arg`.
pub const SAMPLER_ARG: f64 = 1.0;
/// `trust_incoming`.
pub const TRUST_INCOMING: bool = true;
/// `span_kind`.
pub const SPAN_KIND: &str = "auto";
/// `propagation.extract` and `propagation.inject`.
pub const PROPAGATORS: &[&str] = &["tracecontext", "baggage"];
/// `propagation.trusted_baggage`.
pub const TRUSTED_BAGGAGE: bool = false;
/// `attributes.allow_sensitive`.
pub const ALLOW_SENSITIVE: bool = false;
/// `limits.attribute_value_length` (OTel's `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
pub const ATTRIBUTE_VALUE_LENGTH: u64 = 1024;
/// `redact_query`.
pub const REDACT_QUERY: bool = true;
/// `attributes.stream_info`.
pub const STREAM_INFO: &str = "always";
/// `collector.cluster` (and, when not given, `collector.authority`).
pub const COLLECTOR_CLUSTER: &str = "otlp_collector";
/// `collector.path`.
pub const COLLECTOR_PATH: &str = "/v1/traces";
/// `collector.timeout_ms`.
pub const COLLECTOR_TIMEOUT_MS: u64 = 10_000;
/// `collector.encoding`.
pub const COLLECTOR_ENCODING: &str = "protobuf";
/// `collector.compression`.
pub const COLLECTOR_COMPRESSION: &str = "none";
/// `batch.max_queue_size` (OTel `OTEL_BSP_MAX_QUEUE_SIZE`).
pub const MAX_QUEUE_SIZE: u64 = 2048;
/// `batch.max_queue_bytes`.
pub const MAX_QUEUE_BYTES: u64 = 4 * 1024 * 1024;
/// `batch.max_export_batch_size` (OTel `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
pub const MAX_EXPORT_BATCH_SIZE: u64 = 512;
/// `batch.schedule_delay_ms` (OTel `OTEL_BSP_SCHEDULE_DELAY`).
pub const SCHEDULE_DELAY_MS: u64 = 5000;
/// `batch.max_concurrent_exports`.
pub const MAX_CONCURRENT_EXPORTS: u64 = 1;
/// `retry.initial_backoff_ms`.
pub const INITIAL_BACKOFF_MS: u64 = 1000;
/// `retry.max_backoff_ms`.
pub const MAX_BACKOFF_MS: u64 = 30_000;
/// `retry.max_elapsed_ms`.
pub const MAX_ELAPSED_MS: u64 = 60_000;
/// `attributes.request_id`.
pub const REQUEST_ID: bool = false;
/// `expose.server_timing`.
pub const EXPOSE_SERVER_TIMING: bool = false;
/// `expose.access_log`.
pub const EXPOSE_ACCESS_LOG: bool = false;
/// `keep.errors`.
pub const KEEP_ERRORS: bool = true;
/// `keep.slower_than_ms` (0: off).
pub const KEEP_SLOWER_THAN_MS: u64 = 0;
/// `keep.max_per_second`.
pub const KEEP_MAX_PER_SECOND: u64 = 100;

impl Default for Settings {
    /// The configuration an empty `configuration` gives.
    fn default() -> Self {
        Settings {
            service_name: None,
            resource_attributes: BTreeMap::new(),
            sampler: SamplerSettings::default(),
            trust_incoming: TRUST_INCOMING,
            span_kind: SpanKindSetting::default(),
            propagation: PropagationSettings::default(),
            attributes: AttributeSettings::default(),
            redact_query: REDACT_QUERY,
            collector: CollectorSettings::default(),
            batch: BatchSettings::default(),
            retry: RetrySettings::default(),
            limits: LimitSettings::default(),
            keep: KeepSettings::default(),
            sampling: SamplingSettings::default(),
            expose: ExposeSettings::default(),
        }
    }
}

impl Default for ExposeSettings {
    /// Nothing exposed: each part costs the proxy work on every request.
    fn default() -> Self {
        ExposeSettings {
            server_timing: EXPOSE_SERVER_TIMING,
            trace_id_header: None,
            access_log: EXPOSE_ACCESS_LOG,
        }
    }
}

impl Default for KeepSettings {
    /// Errors kept, slowness not, at most 100 kept traces per second per VM.
    fn default() -> Self {
        KeepSettings {
            errors: KEEP_ERRORS,
            slower_than_ms: KEEP_SLOWER_THAN_MS,
            max_per_second: KEEP_MAX_PER_SECOND,
        }
    }
}

impl Default for SamplerSettings {
    /// `parentbased_traceidratio` with ratio 1.0.
    fn default() -> Self {
        SamplerSettings::ParentBasedTraceIdRatio(Threshold::ALWAYS)
    }
}

impl Default for SpanKindSetting {
    /// `auto`.
    fn default() -> Self {
        SpanKindSetting::Auto
    }
}

impl Default for PropagationSettings {
    /// W3C trace context and baggage, both ways.
    fn default() -> Self {
        let both = vec![Propagator::TraceContext, Propagator::Baggage];
        PropagationSettings {
            extract: both.clone(),
            inject: both,
            trusted_baggage: TRUSTED_BAGGAGE,
        }
    }
}

impl Default for CollectorSettings {
    /// Cluster and authority `otlp_collector`, `/v1/traces`, no headers, 10 s, protobuf, no compression.
    fn default() -> Self {
        CollectorSettings {
            cluster: COLLECTOR_CLUSTER.to_owned(),
            authority: COLLECTOR_CLUSTER.to_owned(),
            path: COLLECTOR_PATH.to_owned(),
            headers: Vec::new(),
            timeout_ms: COLLECTOR_TIMEOUT_MS,
            encoding: Encoding::Protobuf,
            compression: Compression::None,
        }
    }
}

impl Default for BatchSettings {
    /// 2048 spans / 4 MiB queued, batches of 512, every 5 s, one export in flight.
    fn default() -> Self {
        // The defaults are small constants, so these conversions cannot truncate even on wasm32.
        BatchSettings {
            max_queue_size: MAX_QUEUE_SIZE as usize,
            max_queue_bytes: MAX_QUEUE_BYTES as usize,
            max_export_batch_size: MAX_EXPORT_BATCH_SIZE as usize,
            schedule_delay_ms: SCHEDULE_DELAY_MS,
            max_concurrent_exports: MAX_CONCURRENT_EXPORTS as usize,
        }
    }
}

impl Default for RetrySettings {
    /// 1 s first backoff, 30 s cap, give up after 60 s.
    fn default() -> Self {
        RetrySettings {
            initial_backoff_ms: INITIAL_BACKOFF_MS,
            max_backoff_ms: MAX_BACKOFF_MS,
            max_elapsed_ms: MAX_ELAPSED_MS,
        }
    }
}

impl Default for LimitSettings {
    /// String attribute values up to 1024 bytes.
    fn default() -> Self {
        LimitSettings {
            // A small constant: the conversion cannot truncate even on wasm32.
            attribute_value_length: ATTRIBUTE_VALUE_LENGTH as usize,
        }
    }
}
