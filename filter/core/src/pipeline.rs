//! The per-VM pipeline the plugin drives: hop decisions, span building, the export queue.
//!
//! One [`Pipeline`] lives in each VM's root context. HTTP contexts call [`Pipeline::start`] for every
//! request and [`Pipeline::finish`] only for sampled ones; the root calls [`Pipeline::poll`] from
//! `on_tick` and [`Pipeline::on_response`] when a callout answers. Everything is driven by clock
//! readings passed in, so the whole life of a span is testable natively.

use crate::config::{Encoding, Settings, SpanKindSetting};
use crate::export::{DropReason, ExportOutcome, ExportRequest, Exporter, MetricKind};
use crate::hop::{Hop, HopContext, Tracer};
use crate::ids::IdGenerator;
use crate::otlp;
use crate::otlp::direct::SpanWriter;
use crate::propagation::HeaderLines;
use crate::span::{
    build_spans, build_spans_into, plan_spans, resource_from, ListenerDirection, RequestFacts,
    ResponseFacts, SpanSettings,
};

/// Per-VM tracing state: decide, record, export.
pub struct Pipeline {
    tracer: Tracer,
    exporter: Exporter,
    span_settings: SpanSettings,
    /// Where protobuf spans are assembled, kept across requests so it is allocated once.
    scratch: Vec<u8>,
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
        Pipeline {
            tracer: Tracer::new(settings, ids),
            exporter,
            span_settings,
            scratch: Vec::new(),
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
        self.tracer.start(headers, now_ns)
    }

    /// Whether [`Pipeline::finish`] needs the listener direction: only `span_kind: auto` looks at it,
    /// so an explicit span kind saves the host a property read per sampled request.
    pub fn needs_listener_direction(&self) -> bool {
        self.tracer.settings().span_kind == SpanKindSetting::Auto
    }

    /// Build, encode once and enqueue the spans of a finished hop. Called for sampled hops; a later
    /// "keep errors" rule can call it for unsampled ones too, since nothing here depends on the flag.
    pub fn finish(
        &mut self,
        hop: &HopContext,
        direction: ListenerDirection,
        request: &RequestFacts,
        response: &ResponseFacts,
        now_ns: u64,
    ) -> Vec<Result<(), DropReason>> {
        let plan = plan_spans(self.tracer.settings().span_kind, direction);
        let ids = hop.span_ids(plan, self.tracer.new_span_id());
        let settings = &self.span_settings;
        let exporter = &mut self.exporter;
        match exporter.encoding() {
            Encoding::Protobuf => {
                // Straight to bytes: no span record list, no attribute list.
                let mut results = Vec::with_capacity(2);
                let mut writer = SpanWriter::new(&mut self.scratch, |bytes| {
                    results.push(exporter.enqueue(bytes, now_ns));
                });
                build_spans_into(&ids, plan, request, response, settings, &mut writer);
                results
            }
            Encoding::Json => build_spans(&ids, plan, request, response, settings)
                .into_iter()
                .map(|span| exporter.enqueue(otlp::encode_span_for(Encoding::Json, span), now_ns))
                .collect(),
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
        let spans = plan_spans(self.tracer.settings().span_kind, direction).span_count();
        self.exporter.drop_queue_full(spans, now_ns);
        spans
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

    /// The answer (or failure) of export attempt `id`.
    pub fn on_response(&mut self, id: u64, outcome: ExportOutcome, now_ns: u64) {
        self.exporter.on_response(id, outcome, now_ns);
    }

    /// Current metric values, exactly named (see DESIGN.md "Export").
    pub fn metric_values(&self) -> [(&'static str, MetricKind, u64); 12] {
        self.exporter.metric_values()
    }

    /// Rate-limited log lines waiting to be written.
    pub fn drain_logs(&mut self) -> Vec<String> {
        self.exporter.drain_logs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;

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
}
