//! The per-VM pipeline the plugin drives: hop decisions, span building, the export queue.
//!
//! One [`Pipeline`] lives in each VM's root context. HTTP contexts call [`Pipeline::start`] for every
//! request and [`Pipeline::finish`] only for sampled ones; the root calls [`Pipeline::poll`] from
//! `on_tick` and [`Pipeline::on_response`] when a callout answers. Everything is driven by clock
//! readings passed in, so the whole life of a span is testable natively.

use crate::config::{Encoding, Settings, SpanKindSetting};
use crate::export::{
    DropReason, ExportOutcome, ExportRequest, Exporter, MetricKind, MetricValues, Origin,
};
use crate::hop::{Hop, HopContext, Tracer};
use crate::ids::{IdGenerator, SpanId};
use crate::keep::{Keep, KeptReason};
use crate::memory::{RecordingBudget, RecordingPermit};
use crate::otlp;
use crate::otlp::direct::SpanWriter;
use crate::propagation::HeaderLines;
use crate::propagation::OtState;
use crate::span::semconv::{redact_query, split_path};
use crate::span::{
    build_spans_into, plan_spans, resource_from, ListenerDirection, RecordSink, RequestFacts,
    ResponseFacts, SpanSettings,
};
use crate::text::truncate_at_char;
use std::rc::Rc;

/// Metrics added per named sampling rule: `{prefix}<rule name>`.
pub const RULE_METRIC_PREFIXES: [&str; 2] =
    ["hoptrace.requests.matched.", "hoptrace.requests.sampled."];

/// The metrics of one sampling rule's named counters, defined only for rules with a `name`, so
/// that their number is bounded by the configuration, never by traffic.
#[derive(Debug)]
struct RuleCounter {
    /// Index of the rule in `sampling.rules`.
    rule: usize,
    /// `hoptrace.requests.matched.<name>` and `hoptrace.requests.sampled.<name>`.
    names: [Rc<str>; 2],
    /// Requests the rule decided, and of them those it sampled.
    counts: [u64; 2],
}

/// Per-VM tracing state: decide, record, export.
pub struct Pipeline {
    tracer: Tracer,
    exporter: Exporter,
    span_settings: SpanSettings,
    /// Where protobuf spans are assembled, kept across requests so it is allocated once.
    scratch: Vec<u8>,
    /// Which unsampled requests are kept, and the budget for them.
    keep: Keep,
    /// What the VM's sampled streams may hold in recorded facts.
    recordings: RecordingBudget,
    /// Counters of the named sampling rules.
    rule_counters: Vec<RuleCounter>,
}

impl Pipeline {
    /// A pipeline for validated settings. `node_metadata` (Istio's `NAME`, `NAMESPACE`,
    /// `WORKLOAD_NAME`, `CLUSTER_ID`…) feeds the resource; `seed` seeds ids and retry jitter.
    pub fn new(settings: Settings, node_metadata: &[(String, String)], seed: [u8; 32]) -> Self {
        let resource = resource_from(
            settings.service_name.as_deref(),
            &settings.resource_attributes,
            node_metadata,
        );
        let mut ids = IdGenerator::from_seed(seed);
        let jitter_seed = ids.next_u64();
        let exporter = Exporter::with_resource(
            settings.batch,
            settings.retry,
            &settings.collector,
            &resource,
            jitter_seed,
        );
        let span_settings = SpanSettings::from_settings(&settings);
        let keep = Keep::new(settings.keep);
        let rule_counters = settings
            .sampling
            .rules
            .iter()
            .enumerate()
            .filter_map(|(rule, r)| {
                let name = r.name.as_deref()?;
                Some(RuleCounter {
                    rule,
                    names: RULE_METRIC_PREFIXES.map(|p| Rc::from(format!("{p}{name}").as_str())),
                    counts: [0; 2],
                })
            })
            .collect();
        Pipeline {
            tracer: Tracer::new(settings, ids),
            exporter,
            span_settings,
            scratch: Vec::new(),
            keep,
            recordings: RecordingBudget::default(),
            rule_counters,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        self.tracer.settings()
    }

    /// Decide one request's hop (every request; no span work). `now_ns` only feeds the rate-limited
    /// sampler, so a coarse clock is fine.
    pub fn start<K, V>(&mut self, headers: &HeaderLines<'_, K, V>, now_ns: u64) -> Hop
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        self.exporter.count_request();
        let hop = self.tracer.start(headers, now_ns);
        if let Some(rule) = hop.context.sampling_rule {
            self.count_rule(rule, hop.context.sampled());
        }
        hop
    }

    /// Count a request decided by sampling rule `rule` (if named).
    fn count_rule(&mut self, rule: usize, sampled: bool) {
        if let Some(c) = self.rule_counters.iter_mut().find(|c| c.rule == rule) {
            c.counts[0] += 1;
            c.counts[1] += u64::from(sampled);
        }
    }

    /// The named sampling rules' counters, in the same order every tick.
    pub fn rule_metric_values(&self) -> Vec<(Rc<str>, MetricKind, u64)> {
        self.rule_counters
            .iter()
            .flat_map(|c| {
                c.names
                    .iter()
                    .zip(c.counts)
                    .map(|(name, v)| (Rc::clone(name), MetricKind::Counter, v))
            })
            .collect()
    }

    /// Bound what a sampled request records until its end, and reserve it in the VM's recording
    /// budget: see [`crate::memory`]. `None` when the budget is spent; the plugin then records
    /// nothing and counts the hop's spans with [`Pipeline::drop_finished`].
    pub fn admit(
        &mut self,
        hop: &HopContext,
        request: &mut RequestFacts,
    ) -> Option<RecordingPermit> {
        let settings = self.tracer.settings();
        bound_request(request, &self.span_settings);
        let response_capture = settings
            .attributes
            .response_headers
            .values()
            .map(|name| name.len() + self.span_settings.attribute_value_length)
            .sum::<usize>();
        let bytes = recording_bytes(hop, request) + response_capture;
        self.recordings.reserve(bytes)
    }

    /// Bytes of recorded facts the VM's sampled streams hold now.
    pub fn recording_bytes(&self) -> usize {
        self.recordings.used()
    }

    /// A fresh span id from the VM's generator: a SERVER span's, drawn before its spans are built
    /// when the hop shows it (see [`crate::expose`]).
    pub fn new_span_id(&mut self) -> SpanId {
        self.tracer.new_span_id()
    }

    /// Whether [`Pipeline::finish`] needs the listener direction: only `span_kind: auto` looks at it,
    /// so an explicit span kind saves the host a property read per sampled request.
    pub fn needs_listener_direction(&self) -> bool {
        self.tracer.settings().span_kind == SpanKindSetting::Auto
    }

    /// Build, encode once and enqueue the spans of a finished head-sampled hop.
    pub fn finish(
        &mut self,
        hop: &HopContext,
        direction: ListenerDirection,
        request: &RequestFacts,
        response: &ResponseFacts,
        now_ns: u64,
    ) -> Vec<Result<(), DropReason>> {
        self.finish_as(hop, direction, request, response, now_ns, Origin::Sampled)
    }

    /// The keep rules: whether unsampled requests are watched to their end, and which are kept.
    pub fn keep(&self) -> &Keep {
        &self.keep
    }

    /// Take one kept trace from the keep budget at `now_ns`; `false` when it is spent.
    pub fn keep_budget_allows(&mut self, now_ns: u64) -> bool {
        self.keep.admit(now_ns)
    }

    /// Count the spans of a kept hop over the keep budget as kept and dropped (`keep_limit`),
    /// without building them. Returns how many.
    pub fn drop_keep_limit(
        &mut self,
        direction: ListenerDirection,
        reason: KeptReason,
        now_ns: u64,
    ) -> usize {
        let spans = self.span_count(direction);
        self.exporter.drop_keep_limit(spans, reason, now_ns);
        spans
    }

    /// Build, encode once and enqueue the spans of an unsampled hop kept for `reason` (see
    /// [`crate::keep`]): no `th` in their trace state, `sampling.priority` and `hoptrace.kept`.
    pub fn finish_kept(
        &mut self,
        hop: &HopContext,
        direction: ListenerDirection,
        request: &RequestFacts,
        response: &ResponseFacts,
        reason: KeptReason,
        now_ns: u64,
    ) -> Vec<Result<(), DropReason>> {
        self.finish_as(
            hop,
            direction,
            request,
            response,
            now_ns,
            Origin::Kept(reason),
        )
    }

    fn finish_as(
        &mut self,
        hop: &HopContext,
        direction: ListenerDirection,
        request: &RequestFacts,
        response: &ResponseFacts,
        now_ns: u64,
        origin: Origin,
    ) -> Vec<Result<(), DropReason>> {
        let plan = plan_spans(self.tracer.settings().span_kind, direction);
        let extra = hop.server_span.unwrap_or_else(|| self.tracer.new_span_id());
        let mut ids = hop.span_ids(plan, extra);
        ids.sampling_rule = hop
            .sampling_rule
            .and_then(|i| self.tracer.rules().label(i))
            .cloned();
        if let Origin::Kept(reason) = origin {
            ids.kept = Some(reason);
            ids.trace_state = without_threshold(&ids.trace_state);
        }
        let settings = &self.span_settings;
        let exporter = &mut self.exporter;
        match exporter.encoding() {
            Encoding::Protobuf => {
                // Straight to bytes: no span record list, no attribute list.
                let mut results = Vec::with_capacity(2);
                let mut writer = SpanWriter::new(&mut self.scratch, |bytes| {
                    results.push(exporter.offer(bytes, now_ns, origin));
                });
                let truncated =
                    build_spans_into(&ids, plan, request, response, settings, &mut writer);
                exporter.count_truncated(truncated);
                results
            }
            Encoding::Json => {
                let mut sink = RecordSink::default();
                let truncated =
                    build_spans_into(&ids, plan, request, response, settings, &mut sink);
                exporter.count_truncated(truncated);
                sink.spans
                    .into_iter()
                    .map(|span| {
                        let bytes = otlp::encode_span_for(Encoding::Json, span);
                        exporter.offer(bytes, now_ns, origin)
                    })
                    .collect()
            }
        }
    }

    /// Whether the spans of a hop finished now would all be dropped because the export queue is
    /// full (a collector that is down or refusing). The plugin then skips reading the stream-end
    /// facts and building spans that could only be thrown away, and calls
    /// [`Pipeline::drop_finished`] so that they are still counted.
    pub fn queue_full(&self) -> bool {
        self.exporter.queue_full()
    }

    /// Count the spans of a hop finished while [`Pipeline::queue_full`] as dropped (`queue_full`),
    /// without building them. Returns how many.
    pub fn drop_finished(&mut self, direction: ListenerDirection, now_ns: u64) -> usize {
        self.drop_finished_as(direction, now_ns, Origin::Sampled)
    }

    /// [`Pipeline::drop_finished`] for spans recorded as `origin`.
    pub fn drop_finished_as(
        &mut self,
        direction: ListenerDirection,
        now_ns: u64,
        origin: Origin,
    ) -> usize {
        let spans = self.span_count(direction);
        self.exporter.drop_queue_full(spans, now_ns, origin);
        spans
    }

    /// How many spans a hop on a listener with `direction` makes under `span_kind`.
    fn span_count(&self, direction: ListenerDirection) -> usize {
        plan_spans(self.tracer.settings().span_kind, direction).span_count()
    }

    /// Export requests due now (from `on_tick`).
    pub fn poll(&mut self, now_ns: u64) -> Vec<ExportRequest> {
        self.exporter.poll(now_ns)
    }

    /// Like [`Pipeline::poll`], but queued spans leave without waiting for the schedule delay: for
    /// a host about to stop (a JavaScript runtime shutting down), within `max_concurrent_exports`.
    pub fn flush(&mut self, now_ns: u64) -> Vec<ExportRequest> {
        self.exporter.flush(now_ns)
    }

    /// Everything held, sent at once until `deadline_ns`, then counted as dropped (see
    /// [`Exporter::drain`]).
    pub fn drain(&mut self, now_ns: u64, deadline_ns: u64) -> Vec<ExportRequest> {
        self.exporter.drain(now_ns, deadline_ns)
    }

    /// Whether no span is queued, in flight or waiting for a retry.
    pub fn holds_nothing(&self) -> bool {
        self.exporter.holds_nothing()
    }

    /// The answer (or failure) of export attempt `id`.
    pub fn on_response(&mut self, id: u64, outcome: ExportOutcome, now_ns: u64) {
        self.exporter.on_response(id, outcome, now_ns);
    }

    /// The host's answer to dispatching export attempt `id` (see [`Exporter::dispatched`]).
    pub fn dispatched(&mut self, id: u64, token: Option<u32>, now_ns: u64) {
        self.exporter.dispatched(id, token, now_ns);
    }

    /// Whether an export in flight waits for callout `token`'s answer.
    pub fn awaits(&self, token: u32) -> bool {
        self.exporter.awaits(token)
    }

    /// The answer (or failure) of export callout `token`; unknown or stale tokens are ignored.
    pub fn on_callout_answer(&mut self, token: u32, outcome: ExportOutcome, now_ns: u64) {
        self.exporter.on_callout_answer(token, outcome, now_ns);
    }

    /// Callout tokens of exports in flight.
    pub fn tokens_in_flight(&self) -> usize {
        self.exporter.tokens_in_flight()
    }

    /// Current metric values, under their metric names.
    pub fn metric_values(&self) -> MetricValues {
        self.exporter.metric_values()
    }

    /// Rate-limited log lines waiting to be written.
    pub fn drain_logs(&mut self) -> Vec<String> {
        self.exporter.drain_logs()
    }
}

/// A trace state without the `th` sub-key of the `ot` member: kept spans were not
/// probability-sampled, so they carry no adjusted count. Other members and sub-keys stay.
fn without_threshold(trace_state: &str) -> String {
    if !trace_state.contains("th:") {
        return trace_state.to_owned();
    }
    let members = trace_state.split(',').filter_map(|member| {
        let member = member.trim();
        match member.strip_prefix("ot=") {
            Some(value) => {
                let mut ot = OtState::parse(value);
                ot.th = None;
                ot.format().map(|v| format!("ot={v}"))
            }
            None => Some(member.to_owned()),
        }
    });
    members.collect::<Vec<_>>().join(",")
}

/// Cut a request's recorded strings to what its spans can carry, so that a recording holds no more:
/// the path and the query (redacted first, when configured) each to the attribute limit, every
/// other string to it too. Spans built from the result are the same as from the original.
fn bound_request(r: &mut RequestFacts, s: &SpanSettings) {
    let limit = s.attribute_value_length;
    // Shrunk as well as cut: a truncated string would keep its whole allocation.
    let cut = |v: &mut String| {
        let keep = truncate_at_char(v, limit).len();
        if keep < v.len() {
            v.truncate(keep);
            v.shrink_to_fit();
        }
    };
    if r.path.len() > limit {
        let (path, query) = split_path(&r.path);
        let mut bounded = truncate_at_char(path, limit).to_owned();
        if let Some(q) = query {
            let q = if s.redact_query {
                redact_query(q, limit)
            } else {
                truncate_at_char(q, limit).to_owned()
            };
            bounded.push('?');
            bounded.push_str(&q);
        }
        r.path = bounded;
    }
    for v in [
        &mut r.method,
        &mut r.scheme,
        &mut r.authority,
        &mut r.user_agent,
        &mut r.protocol,
        &mut r.client_address,
    ] {
        cut(v);
    }
    for (_, v) in &mut r.captured_headers {
        cut(v);
    }
}

/// What one sampled stream holds until its end: its recording's fixed part and every string in it.
fn recording_bytes(hop: &HopContext, r: &RequestFacts) -> usize {
    let fixed = size_of::<HopContext>() + size_of::<RequestFacts>() + size_of::<ResponseFacts>();
    let strings = r.method.capacity()
        + r.path.capacity()
        + r.scheme.capacity()
        + r.authority.capacity()
        + r.user_agent.capacity()
        + r.protocol.capacity()
        + r.client_address.capacity()
        + r.captured_headers
            .iter()
            .map(|(k, v)| k.capacity() + v.capacity() + size_of::<(String, String)>())
            .sum::<usize>()
        + r.captured_headers.capacity() * size_of::<(String, String)>()
        + hop.tracestate.as_ref().map_or(0, String::capacity);
    // The box around the recording, and allocator rounding of each string.
    fixed + strings + 16 * (8 + r.captured_headers.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;
    use crate::span::SpanPlan;

    fn pipeline(config: &str) -> Pipeline {
        Pipeline::new(parse_config(config.as_bytes()).unwrap(), &[], [1; 32])
    }

    #[test]
    fn only_auto_span_kind_asks_for_the_listener_direction() {
        assert!(pipeline("{}").needs_listener_direction());
        for kind in ["server", "client", "server_and_client"] {
            let p = pipeline(&format!(r#"{{"span_kind":"{kind}"}}"#));
            assert!(!p.needs_listener_direction(), "{kind}");
        }
    }

    fn metric(p: &Pipeline, name: &str) -> u64 {
        p.metric_values()
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, v)| *v)
            .unwrap()
    }

    #[test]
    fn a_full_queue_counts_finished_spans_without_building_them() {
        let mut p = pipeline(
            r#"{"sampler":"always_on","span_kind":"auto",
                "batch":{"max_queue_size":3,"max_export_batch_size":3}}"#,
        );
        let none: Vec<(&str, &[u8])> = Vec::new();
        let hop = p.start(&HeaderLines::new(&none), 0);
        let (req, resp) = (RequestFacts::default(), ResponseFacts::default());
        // A gateway hop makes two spans: the first fits, the second would make the queue full.
        assert!(!p.queue_full());
        p.finish(&hop.context, ListenerDirection::Unspecified, &req, &resp, 1);
        assert!(!p.queue_full());
        let results = p.finish(&hop.context, ListenerDirection::Unspecified, &req, &resp, 2);
        assert_eq!(results, [Ok(()), Err(DropReason::QueueFull)]);
        assert!(p.queue_full());

        assert_eq!(p.drop_finished(ListenerDirection::Unspecified, 3), 2);
        assert_eq!(p.drop_finished(ListenerDirection::Inbound, 4), 1);
        assert_eq!(metric(&p, "hoptrace.spans.dropped.queue_full"), 4);
        assert_eq!(metric(&p, "hoptrace.spans.sampled"), 7);
        assert_eq!(metric(&p, "hoptrace.queue.spans"), 3);
    }

    #[test]
    fn recordings_are_bounded_and_share_the_vm_budget() {
        let mut p = pipeline(
            r#"{"sampler":"always_on","attributes":{"request_headers":{"x-blob":"app.blob"}}}"#,
        );
        let none: Vec<(&str, &[u8])> = Vec::new();
        let hop = p.start(&HeaderLines::new(&none), 0);
        let hostile = || RequestFacts {
            path: format!("/{}?{}", "p".repeat(60_000), "=&".repeat(30_000)),
            user_agent: "u".repeat(60_000),
            captured_headers: vec![("app.blob".into(), "b".repeat(60_000))],
            ..RequestFacts::default()
        };
        let mut request = hostile();
        let permit = p.admit(&hop.context, &mut request).unwrap();
        assert!(permit.bytes() < 8 * 1024, "{}", permit.bytes());
        assert!(
            request.user_agent.capacity() <= 1024,
            "cut strings give their memory back"
        );
        assert!(
            request.path.len() <= 2 * 1024 + 1 + 9,
            "{}",
            request.path.len()
        );
        assert_eq!(request.user_agent.len(), 1024);
        // The spans are the same as from the unbounded facts.
        let resp = ResponseFacts::default();
        let ctx = hop
            .context
            .span_ids(SpanPlan::ServerAndClient, p.tracer.new_span_id());
        let build = |r: &RequestFacts| {
            let mut sink = RecordSink::default();
            build_spans_into(
                &ctx,
                SpanPlan::ServerAndClient,
                r,
                &resp,
                &p.span_settings,
                &mut sink,
            );
            format!("{:?}", sink.spans)
        };
        assert_eq!(build(&request), build(&hostile()));

        let mut held = vec![permit];
        while let Some(permit) = p.admit(&hop.context, &mut hostile()) {
            held.push(permit);
        }
        assert!(p.recording_bytes() <= crate::memory::RECORDING_BYTES);
        assert!(held.len() > 1000, "{}", held.len());
        held.clear();
        assert_eq!(p.recording_bytes(), 0);
    }
}
