//! Turn one finished request into its SERVER and/or CLIENT span records.
//!
//! Rules: stable HTTP semantic-convention attributes; name `{method} {route}`;
//! status Error for 5xx, for 4xx on CLIENT spans only, and for resets/timeouts (named by the Envoy
//! response flag in `error.type`); SERVER from request start to stream end, CLIENT from the hand-over to
//! the router to stream end with an event at the first response byte.
//!
//! `build_spans` ignores the sampled flag on purpose: whether a request's spans are built is the
//! lifecycle's decision (sampled, or kept because it failed or was slow).

use super::envoy_flags;
use super::facts::{RequestFacts, ResponseFacts};
use super::plan::SpanPlan;
use super::record::{
    SpanEvent, SpanKind, SpanLink, SpanRecord, SpanStatus, FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE,
};
use super::semconv as sc;
use super::sink::{RecordSink, SpanSink};
use crate::config::{LimitSettings, Settings};
use crate::ids::{SpanId, TraceFlags, TraceId};
use crate::keep::KeptReason;
use crate::text::truncate_at_char;
use std::borrow::Cow;
use std::rc::Rc;

/// The span-related part of the settings, kept by the root context and shared by every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanSettings {
    /// Replace `url.query` values with `REDACTED` (default true).
    pub redact_query: bool,
    /// `attributes.static`: (name, value) on every span.
    pub static_attributes: Vec<(String, String)>,
    /// Longest string attribute value in bytes (`limits.attribute_value_length`, default 1024).
    pub attribute_value_length: usize,
}

impl Default for SpanSettings {
    fn default() -> Self {
        SpanSettings {
            redact_query: true,
            static_attributes: Vec::new(),
            attribute_value_length: LimitSettings::default().attribute_value_length,
        }
    }
}

impl SpanSettings {
    /// Take the span settings out of the validated configuration.
    pub fn from_settings(s: &Settings) -> Self {
        SpanSettings {
            redact_query: s.redact_query,
            static_attributes: s
                .attributes
                .r#static
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            attribute_value_length: s.limits.attribute_value_length,
        }
    }
}

/// An incoming context we did not trust as parent (`trust_incoming: false`): our trace links to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkedContext {
    /// The incoming trace id.
    pub trace_id: TraceId,
    /// The incoming parent span id.
    pub span_id: SpanId,
    /// The incoming W3C flags.
    pub flags: TraceFlags,
}

/// The ids the hop layer chose for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanContextIds {
    /// The trace (inherited or new).
    pub trace_id: TraceId,
    /// The incoming (remote) parent span, `None` when we started the trace.
    pub parent_span_id: Option<SpanId>,
    /// The SERVER span's id (unused when the plan has no SERVER span).
    pub server_span_id: SpanId,
    /// The CLIENT span's id (unused when the plan has no CLIENT span).
    pub client_span_id: SpanId,
    /// The W3C flags sent upstream (sampled and random bits).
    pub flags: TraceFlags,
    /// The `tracestate` sent upstream ("" when none).
    pub trace_state: String,
    /// An untrusted incoming context to link to.
    pub linked: Option<LinkedContext>,
    /// Why an unsampled hop's spans were kept (see [`crate::keep`]); `None` when head-sampled.
    pub kept: Option<KeptReason>,
    /// The sampling rule that decided the hop (its name, else its index); `None`: the top-level
    /// sampler did.
    pub sampling_rule: Option<Rc<str>>,
}

impl SpanContextIds {
    /// The span that stands for the upstream call, i.e. the parent-id to inject upstream: the CLIENT
    /// span when there is one, else the SERVER span.
    pub fn upstream_span_id(&self, plan: SpanPlan) -> SpanId {
        if plan.has_client() {
            self.client_span_id
        } else {
            self.server_span_id
        }
    }
}

/// Build the spans `plan` asks for (SERVER first, then CLIENT) as records.
pub fn build_spans<'a>(
    ctx: &'a SpanContextIds,
    plan: SpanPlan,
    req: &'a RequestFacts,
    end: &'a ResponseFacts,
    settings: &'a SpanSettings,
) -> Vec<SpanRecord<'a>> {
    let mut sink = RecordSink::default();
    build_spans_into(ctx, plan, req, end, settings, &mut sink);
    sink.spans
}

/// Build the spans `plan` asks for (SERVER first, then CLIENT) into `sink`. Every string attribute
/// value is cut to `settings.attribute_value_length` bytes; returns how many were.
pub fn build_spans_into<'a, S: SpanSink<'a>>(
    ctx: &'a SpanContextIds,
    plan: SpanPlan,
    req: &'a RequestFacts,
    end: &'a ResponseFacts,
    settings: &'a SpanSettings,
    sink: &mut S,
) -> usize {
    let mut limited = Limited {
        sink,
        limit: settings.attribute_value_length,
        truncated: 0,
    };
    build_unlimited(ctx, plan, req, end, settings, &mut limited);
    limited.truncated
}

/// A sink that cuts string values to `limit` bytes on a UTF-8 character boundary before passing
/// them on, counting the values it cut. Every attribute goes through it, so no request, however
/// long its path, query or headers, makes a span larger than its attribute count allows.
struct Limited<'s, S> {
    sink: &'s mut S,
    limit: usize,
    truncated: usize,
}

impl<'a, S: SpanSink<'a>> SpanSink<'a> for Limited<'_, S> {
    fn begin(&mut self, span: SpanRecord<'a>) {
        self.sink.begin(span);
    }

    fn str(&mut self, key: &'a str, value: Cow<'a, str>) {
        if value.len() <= self.limit {
            return self.sink.str(key, value);
        }
        self.truncated += 1;
        let cut = match value {
            Cow::Borrowed(v) => Cow::Borrowed(truncate_at_char(v, self.limit)),
            Cow::Owned(mut v) => {
                let keep = truncate_at_char(&v, self.limit).len();
                v.truncate(keep);
                Cow::Owned(v)
            }
        };
        self.sink.str(key, cut);
    }

    fn int(&mut self, key: &'a str, value: i64) {
        self.sink.int(key, value);
    }

    fn end(&mut self) {
        self.sink.end();
    }
}

fn build_unlimited<'a, S: SpanSink<'a>>(
    ctx: &'a SpanContextIds,
    plan: SpanPlan,
    req: &'a RequestFacts,
    end: &'a ResponseFacts,
    settings: &'a SpanSettings,
    sink: &mut S,
) {
    let common = Common::new(req, end, settings);
    let w3c = u32::from(ctx.flags.0);
    let remote_parent = |parent: Option<SpanId>| {
        w3c | FLAG_HAS_IS_REMOTE | if parent.is_some() { FLAG_IS_REMOTE } else { 0 }
    };
    let links = || -> Vec<SpanLink> {
        ctx.linked
            .iter()
            .map(|l| SpanLink {
                trace_id: l.trace_id,
                span_id: l.span_id,
                flags: u32::from(l.flags.0) | FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE,
            })
            .collect()
    };

    if plan.has_server() {
        // Without Envoy's `request.time` (not read, or absent) the SERVER span starts when hoptrace
        // saw the request: better than the epoch.
        let start = match req.start_unix_nano {
            0 => end.upstream_start_unix_nano.unwrap_or(end.end_unix_nano),
            t => t,
        };
        let (status, error_type) = common.status(SpanKind::Server);
        sink.begin(SpanRecord {
            trace_id: ctx.trace_id,
            span_id: ctx.server_span_id,
            parent_span_id: ctx.parent_span_id,
            trace_state: Cow::Borrowed(ctx.trace_state.as_str()),
            flags: remote_parent(ctx.parent_span_id),
            name: common.name.clone(),
            kind: SpanKind::Server,
            start_time_unix_nano: start,
            end_time_unix_nano: end.end_unix_nano.max(start),
            attributes: Vec::new(),
            events: Vec::new(),
            links: links(),
            status,
        });
        common.server_attributes(plan, error_type, sink);
        kept_attributes(ctx.kept, sink);
        rule_attribute(ctx.sampling_rule.as_deref(), sink);
        sink.end();
    }
    if plan.has_client() {
        let (parent, flags, links) = if plan.has_server() {
            (
                Some(ctx.server_span_id),
                w3c | FLAG_HAS_IS_REMOTE,
                Vec::new(),
            )
        } else {
            (
                ctx.parent_span_id,
                remote_parent(ctx.parent_span_id),
                links(),
            )
        };
        let start = end.upstream_start_unix_nano.unwrap_or(req.start_unix_nano);
        let stop = end.end_unix_nano.max(start);
        let events = end
            .first_upstream_byte_unix_nano
            .map(|t| SpanEvent {
                time_unix_nano: t.clamp(start, stop),
                name: sc::EVENT_FIRST_RESPONSE_BYTE,
            })
            .into_iter()
            .collect();
        let (status, error_type) = common.status(SpanKind::Client);
        sink.begin(SpanRecord {
            trace_id: ctx.trace_id,
            span_id: ctx.client_span_id,
            parent_span_id: parent,
            trace_state: Cow::Borrowed(ctx.trace_state.as_str()),
            flags,
            name: common.name.clone(),
            kind: SpanKind::Client,
            start_time_unix_nano: start,
            end_time_unix_nano: stop,
            attributes: Vec::new(),
            events,
            links,
            status,
        });
        common.client_attributes(error_type, sink);
        kept_attributes(ctx.kept, sink);
        rule_attribute(ctx.sampling_rule.as_deref(), sink);
        sink.end();
    }
}

/// A kept span says how it was chosen: `sampling.priority = 1`, so that downstream probabilistic
/// samplers keep it, and `hoptrace.kept` with the reason.
fn kept_attributes<'a, S: SpanSink<'a>>(kept: Option<KeptReason>, sink: &mut S) {
    if let Some(reason) = kept {
        sink.int(sc::SAMPLING_PRIORITY, 1);
        sink.str(sc::HOPTRACE_KEPT, reason.as_str().into());
    }
}

/// The rule that decided the hop, when one did.
fn rule_attribute<'a, S: SpanSink<'a>>(rule: Option<&'a str>, sink: &mut S) {
    if let Some(label) = rule {
        sink.str(sc::HOPTRACE_SAMPLING_RULE, Cow::Borrowed(label));
    }
}

/// What both spans derive from the same facts, computed once.
struct Common<'a> {
    req: &'a RequestFacts,
    end: &'a ResponseFacts,
    settings: &'a SpanSettings,
    method: sc::Method<'a>,
    path: &'a str,
    /// The query as recorded (redacted if configured); `None` when absent or empty.
    query: Option<Cow<'a, str>>,
    server_host: &'a str,
    server_port: Option<u16>,
    name: Cow<'a, str>,
}

impl<'a> Common<'a> {
    fn new(req: &'a RequestFacts, end: &'a ResponseFacts, settings: &'a SpanSettings) -> Self {
        let method = sc::method(&req.method);
        let (path, query) = sc::split_path(&req.path);
        let query = query.filter(|q| !q.is_empty()).map(|q| {
            if settings.redact_query {
                // Past the limit nothing more would be kept.
                Cow::Owned(sc::redact_query(q, settings.attribute_value_length))
            } else {
                Cow::Borrowed(q)
            }
        });
        let (server_host, port) = sc::split_host_port(&req.authority);
        let server_port = port.or_else(|| sc::default_port(&req.scheme));
        let name = if end.route_name.is_empty() {
            Cow::Borrowed(method.span_name_part())
        } else {
            let m = method.span_name_part();
            let mut n = String::with_capacity(m.len() + 1 + end.route_name.len());
            n.push_str(m);
            n.push(' ');
            n.push_str(&end.route_name);
            Cow::Owned(n)
        };
        Common {
            req,
            end,
            settings,
            method,
            path,
            query,
            server_host,
            server_port,
            name,
        }
    }

    /// Status and `error.type` for a span of `kind`.
    fn status(&self, kind: SpanKind) -> (SpanStatus, Option<Cow<'static, str>>) {
        let code = self.end.status_code;
        let details = || SpanStatus::Error(self.end.response_code_details.clone());
        if let Some(t) = envoy_flags::error_type(self.end.response_flags) {
            return (details(), Some(Cow::Borrowed(t)));
        }
        if code == 0 {
            return (details(), Some(Cow::Borrowed(sc::ERROR_TYPE_OTHER)));
        }
        let is_error = code >= 500 || (code >= 400 && kind == SpanKind::Client);
        if is_error {
            // The status code says it all: no message, as the HTTP conventions ask.
            (
                SpanStatus::Error(String::new()),
                Some(Cow::Owned(code.to_string())),
            )
        } else {
            (SpanStatus::Unset, None)
        }
    }

    fn method_attributes<S: SpanSink<'a>>(&self, sink: &mut S) {
        sink.str(sc::HTTP_REQUEST_METHOD, self.method.normalized.into());
        if let Some(orig) = self.method.original {
            sink.str(sc::HTTP_REQUEST_METHOD_ORIGINAL, orig.into());
        }
    }

    fn server_address_attributes<S: SpanSink<'a>>(&self, sink: &mut S) {
        if !self.server_host.is_empty() {
            sink.str(sc::SERVER_ADDRESS, self.server_host.into());
        }
        if let Some(p) = self.server_port {
            sink.int(sc::SERVER_PORT, i64::from(p));
        }
    }

    /// Attributes every span ends with: outcome, Envoy facts, captured headers, static ones.
    fn outcome_and_extra_attributes<S: SpanSink<'a>>(
        &self,
        error_type: Option<Cow<'static, str>>,
        sink: &mut S,
    ) {
        if self.end.status_code > 0 {
            sink.int(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(self.end.status_code),
            );
        }
        if let Some(t) = error_type {
            sink.str(sc::ERROR_TYPE, t);
        }
        if !self.end.route_name.is_empty() {
            sink.str(sc::ENVOY_ROUTE_NAME, self.end.route_name.as_str().into());
        }
        if self.end.response_flags != 0 {
            sink.str(
                sc::ENVOY_RESPONSE_FLAGS,
                envoy_flags::codes(self.end.response_flags).into(),
            );
        }
        let captured = self
            .req
            .captured_headers
            .iter()
            .chain(&self.end.captured_headers)
            .chain(&self.settings.static_attributes);
        for (k, v) in captured {
            sink.str(k.as_str(), v.as_str().into());
        }
    }

    fn server_attributes<S: SpanSink<'a>>(
        &self,
        plan: SpanPlan,
        error_type: Option<Cow<'static, str>>,
        sink: &mut S,
    ) {
        self.method_attributes(sink);
        sink.str(sc::URL_PATH, self.path.into());
        if let Some(q) = &self.query {
            sink.str(sc::URL_QUERY, q.clone());
        }
        if !self.req.scheme.is_empty() {
            sink.str(sc::URL_SCHEME, self.req.scheme.as_str().into());
        }
        self.server_address_attributes(sink);
        let (client_host, client_port) = sc::split_host_port(&self.req.client_address);
        if !client_host.is_empty() {
            sink.str(sc::CLIENT_ADDRESS, client_host.into());
        }
        if let Some(p) = client_port {
            sink.int(sc::CLIENT_PORT, i64::from(p));
        }
        if !self.req.user_agent.is_empty() {
            sink.str(sc::USER_AGENT_ORIGINAL, self.req.user_agent.as_str().into());
        }
        if let Some(v) = sc::protocol_version(&self.req.protocol) {
            sink.str(sc::NETWORK_PROTOCOL_VERSION, v.into());
        }
        if !plan.has_client() {
            // This SERVER span also stands for the upstream call.
            if !self.end.upstream_cluster.is_empty() {
                sink.str(
                    sc::ENVOY_UPSTREAM_CLUSTER,
                    self.end.upstream_cluster.as_str().into(),
                );
            }
            if !self.end.upstream_address.is_empty() {
                sink.str(
                    sc::ENVOY_UPSTREAM_ADDRESS,
                    self.end.upstream_address.as_str().into(),
                );
            }
        }
        self.outcome_and_extra_attributes(error_type, sink);
    }

    fn client_attributes<S: SpanSink<'a>>(
        &self,
        error_type: Option<Cow<'static, str>>,
        sink: &mut S,
    ) {
        self.method_attributes(sink);
        sink.str(sc::URL_FULL, self.url_full().into());
        self.server_address_attributes(sink);
        let (peer_host, peer_port) = sc::split_host_port(&self.end.upstream_address);
        if !peer_host.is_empty() {
            sink.str(sc::NETWORK_PEER_ADDRESS, peer_host.into());
        }
        if let Some(p) = peer_port {
            sink.int(sc::NETWORK_PEER_PORT, i64::from(p));
        }
        if !self.end.upstream_cluster.is_empty() {
            sink.str(
                sc::ENVOY_UPSTREAM_CLUSTER,
                self.end.upstream_cluster.as_str().into(),
            );
        }
        self.outcome_and_extra_attributes(error_type, sink);
    }

    /// `scheme://authority/path?query`, with the query as recorded (redacted if configured). The
    /// sink cuts it to the attribute limit; building stops a little past it.
    fn url_full(&self) -> String {
        let scheme = if self.req.scheme.is_empty() {
            "http"
        } else {
            self.req.scheme.as_str()
        };
        let q = self.query.as_deref().unwrap_or("");
        let mut u = String::with_capacity(
            scheme.len() + 3 + self.req.authority.len() + self.path.len() + 1 + q.len(),
        );
        u.push_str(scheme);
        u.push_str("://");
        u.push_str(&self.req.authority);
        u.push_str(self.path);
        if !q.is_empty() && u.len() <= self.settings.attribute_value_length {
            u.push('?');
            u.push_str(q);
        }
        u
    }
}

#[cfg(test)]
mod tests;
