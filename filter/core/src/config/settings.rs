//! Runtime settings: the validated form of the plugin configuration.
//!
//! Produced only by the validating conversion in `config::validate`, so every value here is known to be
//! usable (ratios in range, sizes non-zero, names known). Defaults are documented on each field.

use std::collections::BTreeMap;

/// Everything the filter needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Resource `service.name`; `None` means: Istio `WORKLOAD_NAME` from node metadata, else
    /// `unknown_service:envoy`.
    pub service_name: Option<String>,
    /// Extra resource attributes (default empty).
    pub resource_attributes: BTreeMap<String, String>,
    /// The head sampler (default `parentbased_traceidratio` with ratio 1.0).
    pub sampler: SamplerSettings,
    /// Whether an incoming context may decide sampling and parent our spans (default true).
    pub trust_incoming: bool,
    /// Which spans a hop makes (default `auto`).
    pub span_kind: SpanKindSetting,
    /// Formats read from and written to requests.
    pub propagation: PropagationSettings,
    /// Extra span attributes.
    pub attributes: AttributeSettings,
    /// Replace `url.query` values with `REDACTED` (default true).
    pub redact_query: bool,
    /// Where and how spans are exported.
    pub collector: CollectorSettings,
    /// Queue bounds and batching.
    pub batch: BatchSettings,
    /// Retry policy for failed exports.
    pub retry: RetrySettings,
    /// Which unsampled requests still export this hop's spans.
    pub keep: KeepSettings,
    /// Bounds on what a request can make hoptrace hold.
    pub limits: LimitSettings,
    /// What the hop makes visible besides its spans: access-log ids, response headers.
    pub expose: ExposeSettings,
    /// Per-request sampling rules (default none).
    pub sampling: SamplingSettings,
}

/// `sampling.*`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SamplingSettings {
    /// In order; the first whose match holds decides, else the top-level sampler does.
    pub rules: Vec<RuleSettings>,
}

/// One sampling rule: what a request must carry, and the sampler that then decides.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSettings {
    /// The rule's name (metric-safe), if given: its span attribute value and metric suffix.
    pub name: Option<String>,
    /// The conditions, all of which must hold (at least one is set).
    pub matcher: RuleMatch,
    /// The sampler deciding the requests this rule matches.
    pub sampler: SamplerSettings,
}

/// The conditions of a rule, read from the request headers only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleMatch {
    /// `:authority` (else `host`) without its port.
    pub host: Option<HostMatch>,
    /// `:path` without its query.
    pub path: Option<PathMatch>,
    /// `:method`, exact.
    pub method: Option<String>,
    /// A request header.
    pub header: Option<HeaderMatch>,
}

/// `match.host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// The whole host, lower-case.
    Exact(String),
    /// `*.example.com`: stored as `.example.com`, lower-case; the bare `example.com` does not match.
    Suffix(String),
}

/// `match.path` / `match.path_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The path equals this.
    Exact(String),
    /// The path starts with this (byte-wise, as Envoy's route `prefix`).
    Prefix(String),
}

/// `match.header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Lower-case header name.
    pub name: String,
    /// A line that must equal this; `None`: any line.
    pub value: Option<String>,
}

/// The OpenTelemetry sampler names (`OTEL_TRACES_SAMPLER`) plus `parentbased_ratelimited`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSettings {
    /// `always_on`: every trace, ignoring the parent.
    AlwaysOn,
    /// `always_off`: no trace, ignoring the parent.
    AlwaysOff,
    /// `traceidratio`: the ProbabilitySampler with this threshold, ignoring the parent.
    TraceIdRatio(Threshold),
    /// `parentbased_always_on`: follow the parent; roots always sampled.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the parent; roots never sampled.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the parent; roots by the ProbabilitySampler.
    ParentBasedTraceIdRatio(Threshold),
    /// `parentbased_ratelimited`: follow the parent; at most this many root traces per second per VM.
    ParentBasedRateLimited {
        /// Root traces per second (> 0).
        per_second: f64,
    },
}

/// The ProbabilitySampler rejection threshold T, a 56-bit value: sample when randomness R >= T.
/// T = 2^56 − round(p · 2^56); T = 0 samples everything; `NEVER` (2^56) samples nothing (p = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threshold(pub u64);

/// `span_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKindSetting {
    /// SERVER on inbound listeners, CLIENT on outbound, SERVER + child CLIENT on a gateway.
    Auto,
    /// Always one SERVER span.
    Server,
    /// Always one CLIENT span.
    Client,
    /// Always a SERVER span with a child CLIENT span.
    ServerAndClient,
}

/// A propagation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Propagator {
    /// W3C `traceparent` + `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// B3 single header `b3`.
    B3,
    /// B3 multi headers `x-b3-*`.
    B3Multi,
    /// Jaeger `uber-trace-id`.
    Jaeger,
}

/// `propagation.extract` / `propagation.inject` (default `["tracecontext","baggage"]` each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagationSettings {
    /// Formats read, in priority order (the first valid context wins).
    pub extract: Vec<Propagator>,
    /// Formats written; W3C trace context is always written.
    pub inject: Vec<Propagator>,
    /// Whether `baggage` (and Jaeger `uberctx-*`) from a client whose context is not trusted
    /// (`trust_incoming: false`) still goes upstream (default false: it is removed, because
    /// services act on baggage as if a trusted hop had set it).
    pub trusted_baggage: bool,
}

/// `attributes.*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributeSettings {
    /// Lower-case request header name → span attribute name.
    pub request_headers: BTreeMap<String, String>,
    /// Lower-case response header name → span attribute name.
    pub response_headers: BTreeMap<String, String>,
    /// Attribute name → constant value on every span.
    pub r#static: BTreeMap<String, String>,
    /// When a sampled request reads Envoy's stream info at its end.
    pub stream_info: StreamInfoReads,
    /// Whether credential headers (`authorization`, `cookie`…) may be captured (default false).
    pub allow_sensitive: bool,
}

/// `attributes.stream_info`: which sampled requests read Envoy's stream info at their end (upstream
/// host and cluster, route, protocol, client address, start time, and the flags behind
/// `error.type`). The first such read in a request is the dearest part of a sampled request,
/// however few facts it asks for (`make bench-ablate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamInfoReads {
    /// Every sampled request (default): the spans carry every fact.
    #[default]
    Always,
    /// Only requests that end in an error (a 4xx or 5xx status, or no response): the others take
    /// their status from the response's `:status` header and start when hoptrace saw them, and
    /// carry no upstream host or cluster, route, protocol or client address.
    OnError,
}

impl StreamInfoReads {
    /// Whether a stream whose response status is `status` (0: none seen) reads the stream info.
    pub fn needed(self, status: u16) -> bool {
        match self {
            StreamInfoReads::Always => true,
            StreamInfoReads::OnError => status == 0 || status >= 400,
        }
    }

    /// Whether the status is read from the response's `:status` header at the first byte, to
    /// decide [`needed`](Self::needed) without the stream info.
    pub fn status_from_response_headers(self) -> bool {
        self == StreamInfoReads::OnError
    }
}

/// OTLP wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf` (default).
    Protobuf,
    /// `application/json`, OTLP/JSON rules.
    Json,
}

/// Body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Default.
    None,
    /// `content-encoding: gzip`.
    Gzip,
}

/// `collector.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorSettings {
    /// Envoy cluster of the OTLP/HTTP receiver (default `otlp_collector`).
    pub cluster: String,
    /// `:authority` of export requests (default: the cluster name).
    pub authority: String,
    /// Request path (default `/v1/traces`).
    pub path: String,
    /// Extra request headers, e.g. `authorization` (default none).
    pub headers: Vec<(String, String)>,
    /// Callout timeout in milliseconds (default 10000).
    pub timeout_ms: u64,
    /// Default protobuf.
    pub encoding: Encoding,
    /// Default none.
    pub compression: Compression,
}

/// `batch.*` (OTel `OTEL_BSP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Spans held per VM (default 2048).
    pub max_queue_size: usize,
    /// Encoded span bytes held per VM (default 4 MiB).
    pub max_queue_bytes: usize,
    /// Spans per export request (default 512, at most `max_queue_size`).
    pub max_export_batch_size: usize,
    /// Longest wait before a non-full batch leaves, ms (default 5000).
    pub schedule_delay_ms: u64,
    /// Export requests in flight at once per VM (default 1).
    pub max_concurrent_exports: usize,
}

/// `keep.*`: the unsampled requests whose spans are kept anyway, because they failed or were slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepSettings {
    /// Keep requests that end 5xx or without a response (default true).
    pub errors: bool,
    /// Keep requests at least this slow, ms; 0 is off (default 0).
    pub slower_than_ms: u64,
    /// Kept traces per second per VM; beyond it they are counted, not exported (default 100).
    pub max_per_second: u64,
}

impl KeepSettings {
    /// Whether any request can be kept, so unsampled requests must be watched to their end.
    pub fn enabled(&self) -> bool {
        self.errors || self.slower_than_ms > 0
    }
}

/// `retry.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// First backoff, ms (default 1000).
    pub initial_backoff_ms: u64,
    /// Backoff cap, ms (default 30000).
    pub max_backoff_ms: u64,
    /// Give up on a batch after this long since its first attempt, ms (default 60000).
    pub max_elapsed_ms: u64,
}

/// `limits.*`: OpenTelemetry's span limits, as far as a request controls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Longest string attribute value in bytes, after redaction (default 1024; OTel's
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`). Longer values are cut on a UTF-8 character boundary.
    pub attribute_value_length: usize,
}

/// `expose.*`: the hop's ids where people look for them (Envoy's access log, the client's
/// response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposeSettings {
    /// Add the W3C `server-timing: trace;desc=…` metric to responses (default false).
    pub server_timing: bool,
    /// Lower-case name of a response header carrying the 32-hex trace id (default none).
    pub trace_id_header: Option<String>,
    /// Publish the hop's ids for Envoy's access-log formatters (default false).
    pub access_log: bool,
}

impl ExposeSettings {
    /// Whether the hop that answers the client edits its response headers.
    pub fn edits_responses(&self) -> bool {
        self.server_timing || self.trace_id_header.is_some()
    }

    /// Whether anything is exposed at all, so the hop must know its SERVER span id at once.
    pub fn any(&self) -> bool {
        self.access_log || self.edits_responses()
    }
}
