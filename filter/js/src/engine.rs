//! What the JavaScript package does per tracer, as plain Rust: one [`Pipeline`] driven by clock
//! readings and header text that JavaScript hands in, so all of it is tested natively.
//!
//! Headers cross the JavaScript boundary as one string of `name\tvalue\n` lines (repeated names kept
//! as separate lines, in order): one string conversion instead of one per header, and neither tab
//! nor newline can occur in a header name, nor a newline in a value. Header edits come back the same
//! way, a removal as a bare `name\n` line.

use hoptrace_core::config::ConfigError;
use hoptrace_core::export::{ExportOutcome, ExportRequest, MetricKind};
use hoptrace_core::hop::{HeaderEdits, HopContext};
use hoptrace_core::pipeline::Pipeline;
use hoptrace_core::propagation::HeaderLines;
use hoptrace_core::span::envoy_flags::{UPSTREAM_CONNECTION_FAILURE, UPSTREAM_REQUEST_TIMEOUT};
use hoptrace_core::span::{ListenerDirection, RequestFacts, ResponseFacts};

use crate::config::{self, JsSettings};

/// Which spans a hop makes, as the `kind` option names it. The filter infers this from the
/// listener direction; here the caller says it, and it is honoured when `span_kind` is `auto`
/// (the default), exactly as a listener direction would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopKind {
    /// A SERVER span for the incoming request and a child CLIENT span for the upstream call (a
    /// proxy or gateway): Envoy's listener without a direction.
    ServerAndClient,
    /// One SERVER span: an inbound listener.
    Server,
    /// One CLIENT span: an outbound listener.
    Client,
}

impl HopKind {
    /// From the number the JavaScript glue passes: 1 server, 2 client, anything else both.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => HopKind::Server,
            2 => HopKind::Client,
            _ => HopKind::ServerAndClient,
        }
    }

    fn direction(self) -> ListenerDirection {
        match self {
            HopKind::ServerAndClient => ListenerDirection::Unspecified,
            HopKind::Server => ListenerDirection::Inbound,
            HopKind::Client => ListenerDirection::Outbound,
        }
    }
}

/// How a hop failed, as `hop.end({ error })` classifies the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopError {
    /// No error.
    None,
    /// The upstream call timed out (`error.type` `timeout`).
    Timeout,
    /// The upstream could not be reached (`error.type` `connection_failure`).
    ConnectionFailure,
    /// Anything else: the hop has no response status of its own (`error.type` `_OTHER`).
    Other,
}

impl HopError {
    /// From the number the JavaScript glue passes: 1 timeout, 2 connection failure, 3 other.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => HopError::Timeout,
            2 => HopError::ConnectionFailure,
            3 => HopError::Other,
            _ => HopError::None,
        }
    }
}

/// A sampled hop waiting for its end: the decided context and the request facts its spans need.
#[derive(Debug, Clone)]
pub struct PendingHop {
    context: HopContext,
    request: RequestFacts,
    direction: ListenerDirection,
}

/// What `hop.end()` knows about the outcome.
#[derive(Debug, Clone, Default)]
pub struct HopEnd<'a> {
    /// The response status (0: none).
    pub status: u16,
    /// How it failed, if it did.
    pub error: Option<HopError>,
    /// The error's message (the status description of a failed span).
    pub message: &'a str,
    /// A route name for the span name (`GET /users/:id`), empty for none.
    pub route: &'a str,
    /// When the upstream request left, ns since the epoch (the CLIENT span's start).
    pub upstream_start_ns: Option<u64>,
    /// When the upstream's response headers arrived, ns since the epoch.
    pub first_byte_ns: Option<u64>,
    /// Now, ns since the epoch.
    pub end_ns: u64,
}

/// One tracer's state: the core pipeline plus where its exports go.
pub struct Engine {
    pipeline: Pipeline,
    endpoint: String,
    outbox: Vec<ExportRequest>,
}

impl Engine {
    /// A tracer for `config` (the filter's JSON plus `collector.endpoint`); `seed` seeds trace and
    /// span ids and retry jitter (JavaScript passes `crypto.getRandomValues` bytes).
    pub fn new(config: &str, seed: [u8; 32], default_service: &str) -> Result<Engine, ConfigError> {
        let JsSettings { core, endpoint } = config::parse(config, default_service)?;
        Ok(Engine {
            pipeline: Pipeline::new(core, &[], seed),
            endpoint,
            outbox: Vec::new(),
        })
    }

    /// `collector.endpoint`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `batch.schedule_delay_ms`: the export timer's period need not be shorter.
    pub fn schedule_delay_ms(&self) -> u64 {
        self.pipeline.settings().batch.schedule_delay_ms
    }

    /// Decide a hop from the request's header lines (`name\tvalue\n` text; pseudo-headers
    /// `:method`, `:path`, `:scheme`, `:authority` give the span attributes). Returns the header
    /// edits as text, and the hop to end later when it is sampled.
    pub fn start(
        &mut self,
        header_text: &str,
        kind: HopKind,
        protocol: &str,
        client_address: &str,
        now_ns: u64,
    ) -> (String, Option<PendingHop>) {
        let lines = parse_lines(header_text);
        let headers = HeaderLines::new(&lines);
        let hop = self.pipeline.start(&headers, now_ns);
        let edits = format_edits(&hop.edits);
        if !hop.context.sampled() {
            return (edits, None);
        }
        let wanted = &self.pipeline.settings().attributes.request_headers;
        let mut request = RequestFacts::from_headers(&headers, wanted);
        request.protocol = protocol.to_owned();
        request.client_address = client_address.to_owned();
        request.start_unix_nano = now_ns;
        let pending = PendingHop {
            context: hop.context,
            request,
            direction: kind.direction(),
        };
        (edits, Some(pending))
    }

    /// Build, encode and queue a sampled hop's spans. Returns how many were queued (the others were
    /// dropped and counted, as in the filter).
    pub fn end(&mut self, hop: PendingHop, end: &HopEnd<'_>) -> usize {
        if self.pipeline.queue_full() {
            self.pipeline.drop_finished(hop.direction, end.end_ns);
            return 0;
        }
        let (flags, status) = match end.error {
            None | Some(HopError::None) => (0, end.status),
            Some(HopError::Timeout) => (UPSTREAM_REQUEST_TIMEOUT, end.status),
            Some(HopError::ConnectionFailure) => (UPSTREAM_CONNECTION_FAILURE, end.status),
            Some(HopError::Other) => (0, 0),
        };
        let response = ResponseFacts {
            status_code: status,
            response_flags: flags,
            response_code_details: end.message.to_owned(),
            route_name: end.route.to_owned(),
            upstream_start_unix_nano: end.upstream_start_ns,
            first_upstream_byte_unix_nano: end.first_byte_ns,
            end_unix_nano: end.end_ns,
            ..ResponseFacts::default()
        };
        self.pipeline
            .finish(
                &hop.context,
                hop.direction,
                &hop.request,
                &response,
                end.end_ns,
            )
            .iter()
            .filter(|r| r.is_ok())
            .count()
    }

    /// Move the export requests due now (or, with `flush`, every queued span the concurrency limit
    /// allows) to the outbox; returns how many are waiting there.
    pub fn poll(&mut self, now_ns: u64, flush: bool) -> usize {
        let due = if flush {
            self.pipeline.flush(now_ns)
        } else {
            self.pipeline.poll(now_ns)
        };
        self.outbox.extend(due);
        self.outbox.len()
    }

    /// The next export request to send, oldest first.
    pub fn next_export(&mut self) -> Option<ExportRequest> {
        if self.outbox.is_empty() {
            None
        } else {
            Some(self.outbox.remove(0))
        }
    }

    /// The outcome of export attempt `id`.
    pub fn on_response(&mut self, id: u64, outcome: ExportOutcome, now_ns: u64) {
        self.pipeline.on_response(id, outcome, now_ns);
    }

    /// The filter's metrics as a JSON object `{ "hoptrace.requests": n, ... }`.
    pub fn metrics_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .pipeline
            .metric_values()
            .iter()
            .map(|(name, _kind, value): &(&str, MetricKind, u64)| {
                ((*name).to_owned(), serde_json::Value::from(*value))
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// Rate-limited log lines waiting to be written, one per line.
    pub fn drain_logs(&mut self) -> String {
        self.pipeline.drain_logs().join("\n")
    }
}

/// `name\tvalue\n` lines as header pairs; a line without a tab is a header with an empty value.
pub fn parse_lines(text: &str) -> Vec<(&str, &[u8])> {
    text.split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('\t') {
            Some((name, value)) => (name, value.as_bytes()),
            None => (line, &b""[..]),
        })
        .collect()
}

/// Header edits as text: `name\tvalue\n` for each header to set (every existing line of it
/// replaced), in order, then `name\n` for each header to remove.
pub fn format_edits(edits: &HeaderEdits) -> String {
    let mut out = String::with_capacity(128);
    for (name, value) in edits.sets() {
        out.push_str(name);
        out.push('\t');
        out.push_str(value);
        out.push('\n');
    }
    for name in &edits.remove {
        out.push_str(name);
        out.push('\n');
    }
    out
}

/// An export request's headers for `fetch`: the pseudo-headers (`:method`, `:path`, `:authority`)
/// are the filter's callout addressing and are left out; the rest as `name\tvalue\n` lines.
pub fn fetch_headers(request: &ExportRequest) -> String {
    let mut out = String::new();
    for (name, value) in request.headers.iter().filter(|(n, _)| !n.starts_with(':')) {
        out.push_str(name);
        out.push('\t');
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// Epoch milliseconds from JavaScript (`performance.timeOrigin + performance.now()`, fractional)
/// as epoch nanoseconds; negative or NaN is 0.
pub fn ms_to_ns(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        // An f64 holds epoch ns to within a quarter of a microsecond: finer than any span needs.
        (ms * 1e6) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
