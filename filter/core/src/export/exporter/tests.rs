//! Exporter behaviour with a fake clock: triggers, slots, retries, bounds, accounting.

use super::*;
use crate::export::MetricKind;
use crate::otlp::testdata;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

mod proptests;

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000 * MS;

fn batch() -> BatchSettings {
    BatchSettings {
        max_queue_size: 8,
        max_queue_bytes: 10_000,
        max_export_batch_size: 3,
        schedule_delay_ms: 1_000,
        max_concurrent_exports: 1,
    }
}

fn retry() -> RetrySettings {
    RetrySettings {
        initial_backoff_ms: 1_000,
        max_backoff_ms: 4_000,
        max_elapsed_ms: 60_000,
    }
}

fn collector() -> CollectorSettings {
    CollectorSettings {
        cluster: "otlp_collector".into(),
        authority: "otel-collector:4318".into(),
        path: "/v1/traces".into(),
        headers: vec![
            ("authorization".into(), "Bearer t0ken".into()),
            ("Content-Type".into(), "text/plain".into()),
        ],
        timeout_ms: 2_000,
        encoding: Encoding::Protobuf,
        compression: Compression::None,
    }
}

fn exporter(b: BatchSettings, r: RetrySettings) -> Exporter {
    Exporter::new(b, r, &collector(), b"res".to_vec(), b"scope".to_vec(), 7)
}

fn span(len: usize) -> Vec<u8> {
    vec![0x2a; len]
}

/// recorded = exported + dropped + queued, and the bounds hold.
fn check(e: &Exporter) {
    let c = e.counters();
    assert_eq!(
        c.recorded(),
        c.spans_exported + c.dropped() + e.queue_spans() as u64,
        "accounting identity: {c:?}, queued {}",
        e.queue_spans()
    );
}

fn ok() -> ExportOutcome {
    ExportOutcome::status(200)
}

fn fill(e: &mut Exporter, n: usize, now: u64) {
    for _ in 0..n {
        e.enqueue(span(10), now).unwrap();
    }
}

#[test]
fn size_trigger() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 2, T0);
    assert!(e.poll(T0).is_empty(), "2 of 3 spans: wait");
    fill(&mut e, 2, T0);
    let reqs = e.poll(T0);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].span_count, 3);
    assert_eq!(e.queue_spans(), 4, "in-flight spans still count as queued");
    check(&e);
    e.on_response(reqs[0].id, ok(), T0 + MS);
    assert_eq!(e.counters().spans_exported, 3);
    assert_eq!(e.counters().exports_ok, 1);
    check(&e);
}

#[test]
fn delay_trigger() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 1, T0);
    fill(&mut e, 1, T0 + 500 * MS);
    assert!(e.poll(T0 + 999 * MS).is_empty());
    let reqs = e.poll(T0 + 1_000 * MS);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].span_count, 2, "the batch takes every waiting span");
}

#[test]
fn byte_trigger() {
    let mut e = exporter(batch(), retry());
    e.enqueue(span(5_000), T0).unwrap();
    assert_eq!(e.poll(T0).len(), 1, "half the byte bound used: send now");
}

#[test]
fn concurrency_limit() {
    let b = BatchSettings {
        max_concurrent_exports: 2,
        max_export_batch_size: 1,
        ..batch()
    };
    let mut e = exporter(b, retry());
    fill(&mut e, 5, T0);
    let first = e.poll(T0);
    assert_eq!(first.len(), 2);
    assert!(e.poll(T0 + 10 * MS).is_empty(), "both slots taken");
    e.on_response(first[0].id, ok(), T0 + 20 * MS);
    let next = e.poll(T0 + 30 * MS);
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].id, first[1].id);
    assert_eq!(e.active_batches(), 2);
    check(&e);
}

#[test]
fn retryable_failures_back_off_exponentially_with_jitter_and_cap() {
    let r = RetrySettings {
        max_elapsed_ms: 1_000_000,
        ..retry()
    };
    let mut e = exporter(batch(), r);
    fill(&mut e, 3, T0);
    let mut req = e.poll(T0).remove(0);
    let mut now = T0;
    let outcomes = [
        ExportOutcome::status(503),
        ExportOutcome::status(429),
        ExportOutcome::status(502),
        ExportOutcome::status(504),
        ExportOutcome::Timeout,
        ExportOutcome::Failed,
    ];
    for (attempt, outcome) in outcomes.into_iter().enumerate() {
        let nominal = [1_000u64, 2_000, 4_000, 4_000, 4_000, 4_000][attempt];
        e.on_response(req.id, outcome, now);
        check(&e);
        assert!(
            e.poll(now + (nominal / 2) * MS - 1).is_empty(),
            "attempt {attempt}: not before b/2"
        );
        // Find the retry time inside [b/2, b].
        let mut t = now + (nominal / 2) * MS;
        let retried = loop {
            let reqs = e.poll(t);
            if let Some(r) = reqs.into_iter().next() {
                break r;
            }
            t += MS;
            assert!(t <= now + nominal * MS, "attempt {attempt}: retry by b");
        };
        assert_ne!(retried.id, req.id, "every attempt has a new id");
        assert_eq!(retried.body, req.body, "the body is built once");
        req = retried;
        now = t;
    }
    assert_eq!(e.counters().exports_retried, 6);
    e.on_response(req.id, ok(), now);
    assert_eq!(e.counters().spans_exported, 3);
    check(&e);
}

#[test]
fn retry_after_is_the_minimum_wait() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 3, T0);
    let req = e.poll(T0).remove(0);
    let outcome = ExportOutcome::Status {
        code: 429,
        retry_after: Some("10".into()),
        body: vec![],
    };
    e.on_response(req.id, outcome, T0);
    assert!(e.poll(T0 + 9_999 * MS).is_empty());
    assert_eq!(e.poll(T0 + 10_000 * MS).len(), 1);
}

#[test]
fn retry_after_beyond_the_budget_gives_up_at_once() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 3, T0);
    let req = e.poll(T0).remove(0);
    let outcome = ExportOutcome::Status {
        code: 503,
        retry_after: Some("3600".into()),
        body: vec![],
    };
    e.on_response(req.id, outcome, T0);
    assert_eq!(e.counters().dropped_export_failed, 3);
    assert_eq!(e.queue_spans(), 0);
    check(&e);
}

#[test]
fn max_elapsed_gives_up() {
    let r = RetrySettings {
        initial_backoff_ms: 1_000,
        max_backoff_ms: 1_000,
        max_elapsed_ms: 5_000,
    };
    let mut e = exporter(batch(), r);
    fill(&mut e, 3, T0);
    let mut now = T0;
    let mut reqs = e.poll(now);
    let mut attempts = 0;
    while let Some(req) = reqs.pop() {
        attempts += 1;
        e.on_response(req.id, ExportOutcome::status(503), now);
        check(&e);
        now += 1_000 * MS;
        reqs = e.poll(now);
    }
    // Waits of 0.5–1 s each: the last retry starts by 5 s after the first attempt.
    assert!((5..=11).contains(&attempts), "{attempts} attempts");
    let c = e.counters();
    assert_eq!(
        (c.dropped_export_failed, c.exports_failed, c.exports_ok),
        (3, 1, 0)
    );
    assert_eq!(c.exports_retried, attempts - 1);
    assert_eq!(e.queue_spans(), 0);
    assert_eq!(e.active_batches(), 0);
    let logs = e.drain_logs().join("\n");
    assert!(
        logs.contains("export_failed: 3 spans dropped: status 503"),
        "{logs}"
    );
}

#[test]
fn permanent_failures_drop_the_batch() {
    for code in [400u16, 401, 403, 404, 413, 500, 501, 301] {
        let mut e = exporter(batch(), retry());
        fill(&mut e, 3, T0);
        let req = e.poll(T0).remove(0);
        e.on_response(req.id, ExportOutcome::status(code), T0);
        let c = e.counters();
        assert_eq!(
            (c.dropped_export_failed, c.exports_failed, c.exports_retried),
            (3, 1, 0),
            "{code}"
        );
        assert!(
            e.poll(T0 + 100_000 * MS).is_empty(),
            "{code}: never retried"
        );
        check(&e);
    }
}

#[test]
fn partial_success_counts_rejected_spans() {
    let b = BatchSettings {
        max_export_batch_size: 5,
        ..batch()
    };
    let mut e = exporter(b, retry());
    fill(&mut e, 5, T0);
    let req = e.poll(T0).remove(0);
    let body = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "too old".into(),
        }),
    }
    .encode_to_vec();
    e.on_response(
        req.id,
        ExportOutcome::Status {
            code: 200,
            retry_after: None,
            body,
        },
        T0,
    );
    let c = e.counters();
    assert_eq!(
        (c.spans_exported, c.dropped_rejected, c.exports_ok),
        (3, 2, 1)
    );
    check(&e);
    assert!(e
        .drain_logs()
        .iter()
        .any(|l| l.contains("rejected 2 of 5 spans: too old")));
}

#[test]
fn partial_success_cannot_reject_more_than_sent() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 3, T0);
    let req = e.poll(T0).remove(0);
    let body = br#"{"partialSuccess":{"rejectedSpans":"99"}}"#.to_vec();
    e.on_response(
        req.id,
        ExportOutcome::Status {
            code: 200,
            retry_after: None,
            body,
        },
        T0,
    );
    assert_eq!(
        (e.counters().spans_exported, e.counters().dropped_rejected),
        (0, 3)
    );
    check(&e);
}

#[test]
fn queue_bound_in_spans_drops_the_new_span() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 8, T0);
    assert_eq!(e.enqueue(span(10), T0), Err(DropReason::QueueFull));
    assert_eq!(e.counters().dropped_queue_full, 1);
    assert_eq!(e.queue_spans(), 8);
    check(&e);
}

#[test]
fn queue_bound_in_bytes() {
    let b = BatchSettings {
        max_queue_bytes: 100,
        ..batch()
    };
    let mut e = exporter(b, retry());
    e.enqueue(span(40), T0).unwrap();
    e.enqueue(span(40), T0).unwrap();
    assert_eq!(e.enqueue(span(40), T0), Err(DropReason::QueueFull));
    e.enqueue(span(20), T0).unwrap();
    assert_eq!(e.queue_bytes(), 100);
    assert_eq!(e.enqueue(span(101), T0), Err(DropReason::TooLarge));
    let c = e.counters();
    assert_eq!((c.dropped_queue_full, c.dropped_too_large), (1, 1));
    check(&e);
}

#[test]
fn too_large_whatever_the_byte_bound() {
    let b = BatchSettings {
        max_queue_bytes: 64 << 20,
        ..batch()
    };
    let mut e = exporter(b, retry());
    assert_eq!(
        e.enqueue(span(MAX_SPAN_BYTES + 1), T0),
        Err(DropReason::TooLarge)
    );
    assert_eq!(e.enqueue(span(MAX_SPAN_BYTES), T0), Ok(()));
    check(&e);
}

#[test]
fn batches_waiting_for_retry_count_against_the_bounds_and_hold_their_slot() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 3, T0);
    let req = e.poll(T0).remove(0);
    e.on_response(req.id, ExportOutcome::status(503), T0);
    fill(&mut e, 5, T0);
    assert_eq!(e.queue_spans(), 8);
    assert_eq!(e.enqueue(span(10), T0), Err(DropReason::QueueFull));
    // Three new spans are a full batch, but the one slot is held by the batch waiting to retry.
    assert!(e.poll(T0 + 100 * MS).is_empty());
    let retried = e.poll(T0 + 1_000 * MS);
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].span_count, 3);
    e.on_response(retried[0].id, ok(), T0 + 1_100 * MS);
    assert_eq!(e.poll(T0 + 1_100 * MS).len(), 1, "the slot is free again");
    check(&e);
}

#[test]
fn stale_and_unknown_ids_are_ignored() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 3, T0);
    let first = e.poll(T0).remove(0);
    e.on_response(first.id, ExportOutcome::status(503), T0);
    // A duplicate answer to the failed attempt, while the batch waits: ignored.
    e.on_response(first.id, ok(), T0 + MS);
    assert_eq!(e.counters().spans_exported, 0);
    let second = e.poll(T0 + 1_000 * MS).remove(0);
    e.on_response(first.id, ok(), T0 + 1_001 * MS);
    e.on_response(12_345, ok(), T0 + 1_001 * MS);
    assert_eq!(e.counters().spans_exported, 0);
    e.on_response(second.id, ok(), T0 + 1_002 * MS);
    assert_eq!(e.counters().spans_exported, 3);
    check(&e);
}

#[test]
fn a_lost_callout_times_out() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 3, T0);
    let req = e.poll(T0).remove(0);
    let limit = (2_000 + WATCHDOG_GRACE_MS) * MS;
    assert!(e.poll(T0 + limit).is_empty());
    assert!(e.poll(T0 + limit + 1).is_empty(), "now waiting for a retry");
    assert_eq!(e.counters().exports_retried, 1);
    let retried = e.poll(T0 + limit + 1_001 * MS);
    assert_eq!(retried.len(), 1);
    e.on_response(req.id, ok(), T0 + limit + 1_002 * MS);
    assert_eq!(
        e.counters().spans_exported,
        0,
        "the lost attempt's late answer is stale"
    );
    check(&e);
}

#[test]
fn an_answer_that_never_comes_leaves_no_token_behind() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 3, T0);
    let req = e.poll(T0).remove(0);
    e.dispatched(req.id, Some(7), T0);
    assert!(e.awaits(7));
    assert_eq!(e.tokens_in_flight(), 1);
    let limit = (2_000 + WATCHDOG_GRACE_MS) * MS;
    assert!(
        e.poll(T0 + limit + 1).is_empty(),
        "timed out, waiting for a retry"
    );
    assert!(!e.awaits(7));
    assert_eq!(e.tokens_in_flight(), 0, "the lost callout's token is gone");
    // The retry is a new callout with its own token; a late answer to the old one is ignored.
    let retried = e.poll(T0 + limit + 1_001 * MS).remove(0);
    e.dispatched(retried.id, Some(8), T0 + limit + 1_001 * MS);
    e.on_callout_answer(7, ok(), T0 + limit + 1_002 * MS);
    assert_eq!(e.counters().spans_exported, 0, "stale token");
    e.on_callout_answer(8, ok(), T0 + limit + 1_003 * MS);
    assert_eq!(e.counters().spans_exported, 3);
    assert_eq!(e.tokens_in_flight(), 0);
    check(&e);
}

#[test]
fn a_refused_dispatch_is_a_failed_attempt_and_holds_no_token() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 2, T0);
    let req = e.poll(T0 + 3_000 * MS).remove(0);
    e.dispatched(req.id, None, T0 + 3_000 * MS);
    assert_eq!(e.counters().exports_retried, 1);
    assert_eq!(e.tokens_in_flight(), 0);
    e.on_callout_answer(0, ok(), T0 + 3_001 * MS);
    assert_eq!(
        e.counters().spans_exported,
        0,
        "no attempt waits for any token"
    );
    check(&e);
}

#[test]
fn every_ending_of_an_attempt_clears_its_token() {
    for (case, outcome) in [
        ("success", ok()),
        ("retryable status", ExportOutcome::status(503)),
        ("permanent status", ExportOutcome::status(400)),
        ("reset", ExportOutcome::Failed),
    ] {
        let mut e = exporter(batch(), retry());
        fill(&mut e, 1, T0);
        let req = e.poll(T0 + 3_000 * MS).remove(0);
        e.dispatched(req.id, Some(42), T0 + 3_000 * MS);
        e.on_callout_answer(42, outcome, T0 + 3_001 * MS);
        assert_eq!(e.tokens_in_flight(), 0, "{case}");
        assert!(!e.awaits(42), "{case}");
        check(&e);
    }
}

#[test]
fn flush_ignores_the_delay() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 1, T0);
    assert!(e.poll(T0).is_empty());
    assert_eq!(e.flush(T0).len(), 1);
}

#[test]
fn protobuf_request_headers_and_body() {
    let mut e = Exporter::with_resource(batch(), retry(), &collector(), &testdata::resource(), 1);
    for s in testdata::spans() {
        e.enqueue(otlp::encode_span_for(e.encoding(), s), T0)
            .unwrap();
    }
    let req = e.flush(T0).remove(0);
    assert_eq!(
        req.headers,
        vec![
            (":method".to_string(), "POST".to_string()),
            (":path".to_string(), "/v1/traces".to_string()),
            (":authority".to_string(), "otel-collector:4318".to_string()),
            (
                "content-type".to_string(),
                "application/x-protobuf".to_string()
            ),
            ("authorization".to_string(), "Bearer t0ken".to_string()),
        ]
    );
    assert_eq!(req.timeout_ms, 2_000);
    let decoded = ExportTraceServiceRequest::decode(req.body.as_slice()).unwrap();
    let spans = &decoded.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0], otlp::proto::to_proto(&testdata::spans()[0]));
}

#[test]
fn gzipped_json_request() {
    let c = CollectorSettings {
        encoding: Encoding::Json,
        compression: Compression::Gzip,
        ..collector()
    };
    let mut e = Exporter::with_resource(batch(), retry(), &c, &testdata::resource(), 1);
    for s in testdata::spans() {
        e.enqueue(otlp::encode_span_for(e.encoding(), s), T0)
            .unwrap();
    }
    let req = e.flush(T0).remove(0);
    let h = |k: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("content-type"), Some("application/json"));
    assert_eq!(h("content-encoding"), Some("gzip"));
    let json = miniz_oxide::inflate::decompress_to_vec(&req.body[10..req.body.len() - 8]).unwrap();
    let decoded: ExportTraceServiceRequest = serde_json::from_slice(&json).unwrap();
    assert_eq!(decoded.resource_spans[0].scope_spans[0].spans.len(), 2);
    assert_eq!(
        decoded.resource_spans[0].scope_spans[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        "hoptrace"
    );
}

#[test]
fn failure_logs_are_rate_limited() {
    let mut e = exporter(batch(), retry());
    fill(&mut e, 8, T0);
    for i in 0..100 {
        let _ = e.enqueue(span(10), T0 + i * MS);
    }
    let logs = e.drain_logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].starts_with("hoptrace: queue_full: span dropped"),
        "{logs:?}"
    );
    e.poll(T0 + 10_000 * MS);
    let logs = e.drain_logs();
    assert!(
        logs.iter()
            .any(|l| l == "hoptrace: queue_full: 99 more since the last report"),
        "{logs:?}"
    );
}

#[test]
fn metrics_use_the_design_names() {
    let mut e = exporter(batch(), retry());
    e.count_request();
    fill(&mut e, 2, T0);
    let m = e.metric_values();
    let names: Vec<&str> = m.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(
        names,
        [
            "hoptrace.requests",
            "hoptrace.spans.sampled",
            "hoptrace.spans.kept.error",
            "hoptrace.spans.kept.slow",
            "hoptrace.spans.exported",
            "hoptrace.spans.dropped.queue_full",
            "hoptrace.spans.dropped.too_large",
            "hoptrace.spans.dropped.export_failed",
            "hoptrace.spans.dropped.rejected",
            "hoptrace.spans.dropped.keep_limit",
            "hoptrace.exports.ok",
            "hoptrace.exports.failed",
            "hoptrace.exports.retried",
            "hoptrace.queue.spans",
            "hoptrace.queue.bytes",
            "hoptrace.attributes.truncated",
            "hoptrace.spans.dropped.shutdown",
        ]
    );
    assert_eq!(m[0], ("hoptrace.requests", MetricKind::Counter, 1));
    assert_eq!(m[1].2, 2);
    assert_eq!(m[13], ("hoptrace.queue.spans", MetricKind::Gauge, 2));
    assert_eq!(m[14], ("hoptrace.queue.bytes", MetricKind::Gauge, 20));
}

#[test]
fn kept_spans_count_as_recorded_by_their_reason() {
    let mut e = exporter(batch(), retry());
    e.offer(span(10), T0, Origin::Kept(KeptReason::Error))
        .unwrap();
    e.offer(span(10), T0, Origin::Kept(KeptReason::Slow))
        .unwrap();
    e.drop_keep_limit(2, KeptReason::Error, T0);
    let c = e.counters();
    assert_eq!(
        (c.spans_sampled, c.spans_kept_error, c.spans_kept_slow),
        (0, 3, 1)
    );
    assert_eq!(c.dropped_keep_limit, 2);
    check(&e);
}
