//! hoptrace.wasm's export path under the shim's virtual clock: batches leave by size at the next
//! tick or by `schedule_delay_ms`; retries back off with jitter and honour `Retry-After`; a
//! timeout is a local 504 and retried; a 4xx drops the batch; partial success counts rejected
//! spans; and after every step sampled = exported + dropped + queued. The spans are decoded with
//! the official OTLP schema and checked against the `traceparent` the upstream received. Also the
//! host calls an unsampled and a sampled request cost.

use std::collections::BTreeMap;
use std::time::Duration;

use hoptrace_shim::{CalloutResponse, Host, StreamReport};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

use crate::common;
use crate::hoptrace_support::{
    hex, incoming, load, load_without_cel, one_callout, parts, request_with, spans, tick, traffic,
    Accounting, COLLECTOR, PARENT_SPAN_ID, PARENT_TRACE_ID, TICK,
};

/// Ticks until a callout is pending (checking accounting on every tick); fails after `limit`.
fn wait_for_callout(host: &mut Host, limit: Duration, step: &str) -> hoptrace_shim::Callout {
    let start = host.elapsed();
    while host.callouts().is_empty() {
        assert!(
            host.elapsed() - start < limit,
            "{step}: no export within {limit:?}"
        );
        tick(host, step);
    }
    one_callout(host, step)
}

/// Ticks for `span` without any callout appearing.
fn quiet_for(host: &mut Host, span: Duration, step: &str) {
    let end = host.elapsed() + span;
    while host.elapsed() < end {
        tick(host, step);
        assert!(
            host.callouts().is_empty(),
            "{step}: no export expected yet at {:?}",
            host.elapsed()
        );
    }
}

#[test]
fn a_full_batch_leaves_at_the_next_tick_and_its_spans_match_what_went_upstream() {
    let mut host = load(r#"{"batch":{"max_export_batch_size":4},"collector":{"timeout_ms":3000}}"#);
    let parent = incoming();
    let mut sent = traffic(&mut host, 2);
    sent.push(request_with(
        &mut host,
        &[("traceparent", &parent)],
        Duration::ZERO,
    ));
    assert!(host.callouts().is_empty(), "3 of 4: nothing due");
    sent.push(request_with(
        &mut host,
        &[("traceparent", &parent)],
        Duration::ZERO,
    ));
    assert!(
        host.callouts().is_empty(),
        "exports leave from the root's tick, never from a request"
    );

    tick(&mut host, "batch full");
    let callout = one_callout(&host, "batch full");
    assert_eq!(callout.cluster, COLLECTOR);
    assert_eq!(callout.header(":method"), Some("POST"));
    assert_eq!(callout.header(":path"), Some("/v1/traces"));
    assert_eq!(callout.header(":authority"), Some(COLLECTOR));
    assert_eq!(
        callout.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(callout.timeout, Some(Duration::from_secs(3)));

    let got = spans(&callout);
    assert_eq!(got.len(), 4, "one SERVER span per inbound request");
    for (span, traceparent) in got.iter().zip(&sent) {
        let (trace_id, span_id, flags) = parts(traceparent);
        assert_eq!(hex(&span.trace_id), trace_id);
        assert_eq!(
            hex(&span.span_id),
            span_id,
            "the SERVER span is what the upstream was told is its parent"
        );
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(
            span.flags & 0xff,
            u32::from(flags),
            "W3C flags in span flags"
        );
    }
    assert!(got[0].parent_span_id.is_empty(), "a root has no parent");
    assert_eq!(hex(&got[2].parent_span_id), PARENT_SPAN_ID);
    assert_eq!(hex(&got[2].trace_id), PARENT_TRACE_ID);

    host.answer(callout.id, CalloutResponse::new(200)).unwrap();
    let a = tick(&mut host, "answered");
    assert_eq!((a.sampled, a.exported, a.exports_ok), (4, 4, 1));
    assert_eq!((a.queue_spans, a.queue_bytes, a.dropped()), (0, 0, 0));
    assert_eq!(a.requests, 4);
}

#[test]
fn a_gateway_hop_exports_a_server_span_and_its_client_child() {
    let mut host = load(r#"{"batch":{"max_export_batch_size":2}}"#);
    host.remove_property("xds.listener_direction");
    let sent = request_with(
        &mut host,
        &[("traceparent", &incoming())],
        Duration::from_millis(30),
    );
    let (trace_id, upstream_parent, _) = parts(&sent);
    tick(&mut host, "gateway batch");
    let got = spans(&one_callout(&host, "gateway batch"));
    assert_eq!(got.len(), 2);
    let (server, client) = (&got[0], &got[1]);
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(client.kind, SpanKind::Client as i32);
    assert_eq!(hex(&server.trace_id), trace_id);
    assert_eq!(hex(&client.trace_id), trace_id);
    assert_eq!(hex(&server.parent_span_id), PARENT_SPAN_ID);
    assert_eq!(hex(&client.parent_span_id), hex(&server.span_id));
    assert_eq!(
        hex(&client.span_id),
        upstream_parent,
        "the CLIENT span is the upstream call"
    );
    assert_ne!(server.span_id, client.span_id);
    assert!(server.end_time_unix_nano - server.start_time_unix_nano >= 30_000_000);
}

#[test]
fn a_partial_batch_leaves_when_schedule_delay_elapses() {
    let mut host = load(r#"{"batch":{"schedule_delay_ms":1000}}"#);
    traffic(&mut host, 3);
    quiet_for(
        &mut host,
        Duration::from_millis(900),
        "before schedule_delay_ms",
    );
    tick(&mut host, "schedule_delay_ms");
    let callout = one_callout(&host, "schedule_delay_ms");
    assert_eq!(callout.dispatched_at, Duration::from_millis(1000));
    assert_eq!(spans(&callout).len(), 3);
    host.answer(callout.id, CalloutResponse::new(204)).unwrap();
    let a = tick(&mut host, "answered");
    assert_eq!((a.exported, a.queue_spans), (3, 0));
}

#[test]
fn a_freed_slot_sends_the_next_full_batch_at_once() {
    let mut host = load(r#"{"batch":{"max_export_batch_size":2}}"#);
    traffic(&mut host, 2);
    tick(&mut host, "first batch");
    let first = one_callout(&host, "first batch");
    traffic(&mut host, 2);
    tick(&mut host, "second batch waits for the slot");
    assert_eq!(
        host.callouts().len(),
        1,
        "max_concurrent_exports 1: one in flight"
    );
    host.answer(first.id, CalloutResponse::new(200)).unwrap();
    let second = one_callout(&host, "right after the answer, not at the next tick");
    assert_ne!(second.id, first.id);
    assert_eq!(spans(&second).len(), 2);
    host.answer(second.id, CalloutResponse::new(200)).unwrap();
    let a = tick(&mut host, "both answered");
    assert_eq!((a.exported, a.exports_ok), (4, 2));
}

#[test]
fn retry_after_on_503_holds_the_retry_until_it_is_due() {
    let mut host = load(r#"{"batch":{"max_export_batch_size":1}}"#);
    traffic(&mut host, 1);
    tick(&mut host, "first attempt");
    let first = one_callout(&host, "first attempt");
    let answered_at = host.elapsed();
    host.answer(
        first.id,
        CalloutResponse::new(503).header("retry-after", "7"),
    )
    .unwrap();
    assert!(host.callouts().is_empty());
    let retry = wait_for_callout(&mut host, Duration::from_secs(10), "retry after 503");
    let waited = retry.dispatched_at - answered_at;
    assert!(
        waited >= Duration::from_secs(7) && waited <= Duration::from_secs(7) + TICK,
        "Retry-After 7 s honoured (backoff alone would be ≤ 1 s): retried after {waited:?}"
    );
    assert_eq!(retry.body, first.body, "the same batch again");
    let a = Accounting::check(&host, "retrying");
    assert_eq!((a.exports_retried, a.queue_spans), (1, 1));

    host.answer(retry.id, CalloutResponse::new(200)).unwrap();
    let a = tick(&mut host, "retry answered");
    assert_eq!((a.exported, a.exports_ok, a.exports_failed), (1, 1, 0));
}

#[test]
fn repeated_429s_back_off_exponentially_with_jitter() {
    let mut host = load(
        r#"{"batch":{"max_export_batch_size":1},
            "retry":{"initial_backoff_ms":1000,"max_backoff_ms":4000,"max_elapsed_ms":600000}}"#,
    );
    traffic(&mut host, 1);
    tick(&mut host, "first attempt");
    let mut callout = one_callout(&host, "first attempt");
    // Equal jitter: attempt n waits in [b/2, b], b = min(1000 · 2^(n-1), 4000), plus one tick.
    for (attempt, nominal_ms) in [(1u32, 1000u64), (2, 2000), (3, 4000), (4, 4000)] {
        let answered_at = host.elapsed();
        host.answer(callout.id, CalloutResponse::new(429)).unwrap();
        let step = format!("retry {attempt}");
        callout = wait_for_callout(&mut host, Duration::from_secs(10), &step);
        let waited = callout.dispatched_at - answered_at;
        let nominal = Duration::from_millis(nominal_ms);
        assert!(
            waited >= nominal / 2 && waited <= nominal + TICK,
            "{step}: waited {waited:?}, nominal backoff {nominal:?}"
        );
        assert_eq!(
            Accounting::check(&host, &step).exports_retried,
            u64::from(attempt)
        );
    }
    host.answer(callout.id, CalloutResponse::new(200)).unwrap();
    let a = tick(&mut host, "finally accepted");
    assert_eq!((a.exported, a.exports_retried, a.exports_ok), (1, 4, 1));
}

#[test]
fn a_timeout_comes_back_as_a_local_504_and_is_retried() {
    let mut host = load(r#"{"batch":{"max_export_batch_size":1},"collector":{"timeout_ms":2000}}"#);
    traffic(&mut host, 1);
    tick(&mut host, "first attempt");
    let first = one_callout(&host, "first attempt");
    assert_eq!(first.timeout, Some(Duration::from_secs(2)));
    host.advance(Duration::from_secs(2)).unwrap();
    assert!(
        host.callouts().is_empty(),
        "the shim answered 504 at the timeout"
    );
    let a = tick(&mut host, "after the timeout");
    assert_eq!((a.exports_retried, a.queue_spans, a.exported), (1, 1, 0));
    let retry = wait_for_callout(&mut host, Duration::from_secs(2), "retry after the timeout");
    assert_eq!(retry.body, first.body);
    host.answer(retry.id, CalloutResponse::new(200)).unwrap();
    assert_eq!(tick(&mut host, "retry answered").exported, 1);
}

#[test]
fn a_permanent_failure_drops_the_batch_and_counts_it() {
    let mut host = load(r#"{"batch":{"max_export_batch_size":3}}"#);
    traffic(&mut host, 3);
    tick(&mut host, "attempt");
    let callout = one_callout(&host, "attempt");
    host.answer(callout.id, CalloutResponse::new(400).body("bad request"))
        .unwrap();
    let a = tick(&mut host, "400 answered");
    assert_eq!(
        (
            a.export_failed,
            a.exports_failed,
            a.exports_retried,
            a.queue_spans
        ),
        (3, 1, 0, 0)
    );
    quiet_for(&mut host, Duration::from_secs(5), "no retry of a 4xx");
    assert!(
        host.logs().any(|l| l.message.contains("status 400")),
        "the failure is logged: {:?}",
        host.logs().map(|l| &l.message).collect::<Vec<_>>()
    );
}

#[test]
fn retries_stop_at_max_elapsed_and_the_spans_are_counted_as_export_failed() {
    let mut host = load(
        r#"{"batch":{"max_export_batch_size":2},
            "retry":{"initial_backoff_ms":500,"max_backoff_ms":1000,"max_elapsed_ms":4000}}"#,
    );
    traffic(&mut host, 2);
    let mut attempts = 0;
    loop {
        let a = tick(&mut host, "collector answering 503");
        if a.exports_failed == 1 {
            assert_eq!((a.export_failed, a.queue_spans, a.exported), (2, 0, 0));
            break;
        }
        for c in host.callouts() {
            attempts += 1;
            host.answer(c.id, CalloutResponse::new(503)).unwrap();
        }
        assert!(
            host.elapsed() < Duration::from_secs(10),
            "gave up within max_elapsed_ms"
        );
    }
    assert!(
        (4..=9).contains(&attempts),
        "0.5 s … 1 s apart for 4 s: {attempts} attempts"
    );
}

#[test]
fn partial_success_counts_the_rejected_spans() {
    let mut host = load(r#"{"batch":{"max_export_batch_size":4}}"#);
    traffic(&mut host, 4);
    tick(&mut host, "attempt");
    let callout = one_callout(&host, "attempt");
    let body = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 3,
            error_message: "span name too long".into(),
        }),
    }
    .encode_to_vec();
    host.answer(
        callout.id,
        CalloutResponse::new(200)
            .header("content-type", "application/x-protobuf")
            .body(body),
    )
    .unwrap();
    let a = tick(&mut host, "partial success");
    assert_eq!((a.exported, a.rejected, a.exports_ok), (1, 3, 1));
    assert!(
        host.logs()
            .any(|l| l.message.contains("rejected 3 of 4") && l.message.contains("too long")),
        "the collector's message is logged"
    );
}

#[test]
fn a_full_queue_drops_new_spans_and_counts_them() {
    let mut host = load(r#"{"batch":{"max_queue_size":4,"max_export_batch_size":4}}"#);
    traffic(&mut host, 4);
    tick(&mut host, "batch of 4 in flight");
    let callout = one_callout(&host, "batch of 4 in flight");
    // In-flight spans still count against the queue bounds.
    traffic(&mut host, 3);
    let a = tick(&mut host, "queue full");
    assert_eq!((a.sampled, a.queue_full, a.queue_spans), (7, 3, 4));
    // A span that can only be dropped is not built: at stream end the filter reads the clock and
    // the listener direction (to count its spans), not the other stream-end facts.
    let (while_full, by_function) = cost(&mut host, &[], 200);
    assert_eq!(
        while_full.host_calls_in("proxy_on_log"),
        2,
        "{by_function:?}"
    );
    assert_eq!(by_function.get("proxy_get_property"), Some(&1));
    assert_eq!(by_function.get("proxy_call_foreign_function"), None);
    host.answer(callout.id, CalloutResponse::new(200)).unwrap();
    let (_, by_function) = cost(&mut host, &[], 200);
    assert_eq!(
        by_function.get("proxy_call_foreign_function"),
        Some(&1),
        "with room, the facts are read: {by_function:?}"
    );
    let a = tick(&mut host, "room again");
    assert_eq!(
        (a.sampled, a.exported, a.queue_full, a.queue_spans),
        (9, 4, 4, 1)
    );
}

/// One request's report and the host calls it made by function (no tick runs meanwhile).
fn cost(
    host: &mut Host,
    extra: &[(&str, &str)],
    status: u16,
) -> (StreamReport, BTreeMap<&'static str, u64>) {
    host.reset_host_calls();
    let mut req = host.request(common::get("/checkout", extra)).unwrap();
    req.respond(status, [("content-length", "0")]).unwrap();
    let report = req.end().unwrap();
    (report, host.host_calls().by_function.clone())
}

#[test]
fn host_calls_per_unsampled_and_sampled_request() {
    // Without `keep`, as before it existed; what keeping adds is the next test.
    let mut host = load(r#"{"keep":{"errors":false}}"#);
    // Warm up: first-use work (metric definitions on the first tick) is not per request. Traffic
    // that carries a context makes the filter read the whole map first (`HeaderReadPlan`).
    tick(&mut host, "warm-up");
    let sampled = incoming();
    for _ in 0..64 {
        cost(&mut host, &[("traceparent", &sampled)], 200);
    }
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    #[rustfmt::skip]
    let rows = [
        ("unsampled (parent says no)", cost(&mut host, &[("traceparent", unsampled)], 200)),
        ("sampled, 200", cost(&mut host, &[("traceparent", &sampled)], 200)),
        ("sampled, 503", cost(&mut host, &[("traceparent", &sampled)], 503)),
        ("sampled new root", cost(&mut host, &[], 200)),
    ];
    for (what, (report, by_function)) in &rows {
        println!(
            "hoptrace.wasm host calls per request, {what}: {} by callback {:?}, by function {:?}",
            report.total_host_calls(),
            report.host_calls,
            by_function
        );
    }
    let total = |i: usize| rows[i].1 .0.total_host_calls();
    let in_cb = |i: usize, cb: &str| rows[i].1 .0.host_calls_in(cb);
    let calls = |i: usize, f: &str| rows[i].1 .1.get(f).copied().unwrap_or(0);

    // Unsampled: read the header map once, write one traceparent. Nothing else, anywhere.
    assert_eq!(total(0), UNSAMPLED_HOST_CALLS, "{:?}", rows[0].1 .1);
    assert_eq!(calls(0, "proxy_get_header_map_pairs"), 1);
    assert_eq!(calls(0, "proxy_replace_header_map_value"), 1);

    // Sampled: the same two, the clock when the upstream call starts, at the first response byte
    // and at the end, and one CEL evaluation for the span's nine facts (direction included) in
    // on_log.
    assert_eq!(total(1), SAMPLED_HOST_CALLS, "{:?}", rows[1].1 .1);
    assert_eq!(
        (
            in_cb(1, "proxy_on_request_headers"),
            in_cb(1, "proxy_on_response_headers"),
            in_cb(1, "proxy_on_log")
        ),
        (3, 1, 2)
    );
    assert_eq!(calls(1, "proxy_get_current_time_nanoseconds"), 3);
    assert_eq!(calls(1, "proxy_call_foreign_function"), 1);
    assert_eq!(calls(1, "proxy_get_property"), 0);
    // An error also reads response.code_details; a new root also writes its tracestate.
    assert_eq!(total(2), SAMPLED_HOST_CALLS + 1, "{:?}", rows[2].1 .1);
    assert_eq!(calls(2, "proxy_get_property"), 1);
    assert_eq!(total(3), SAMPLED_HOST_CALLS + 1, "{:?}", rows[3].1 .1);
    assert_eq!(calls(3, "proxy_replace_header_map_value"), 2);
}

#[test]
fn keep_adds_the_status_to_an_unsampled_request_and_slowness_the_clock() {
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    // (config, host calls added to an unsampled request that ends well, of them clock readings)
    for (config, added, clock) in [("{}", 1, 0), (r#"{"keep":{"slower_than_ms":500}}"#, 4, 3)] {
        let mut host = load(config);
        tick(&mut host, "warm-up");
        for _ in 0..64 {
            cost(&mut host, &[("traceparent", unsampled)], 200);
        }
        let (report, by_function) = cost(&mut host, &[("traceparent", unsampled)], 200);
        let calls = |f: &str| by_function.get(f).copied().unwrap_or(0);
        // :status (and the clock at the start, the first byte and the end when slowness is
        // kept): a request that ends well builds nothing.
        assert_eq!(
            report.total_host_calls(),
            UNSAMPLED_HOST_CALLS + added,
            "{config}: {by_function:?}"
        );
        assert_eq!(
            calls("proxy_get_current_time_nanoseconds"),
            clock,
            "{config}"
        );
        assert_eq!(calls("proxy_get_header_map_value"), 1, "{config}");
        assert_eq!(
            calls("proxy_call_foreign_function") + calls("proxy_get_property"),
            0,
            "{config}"
        );
    }
}

#[test]
fn requests_without_a_context_are_decided_on_two_empty_lookups_unless_most_are_sampled() {
    let mut host = load(r#"{"sampler":"always_off","keep":{"errors":false}}"#);
    tick(&mut host, "warm-up");
    // Edge traffic: no context, so the filter looks up traceparent and tracestate, finds neither,
    // and never asks for the map (an answer with data costs the host a call into the module).
    let (report, by_function) = cost(&mut host, &[], 200);
    assert_eq!(report.total_host_calls(), 3, "{by_function:?}");
    assert_eq!(by_function.get("proxy_get_header_map_value"), Some(&2));
    assert_eq!(by_function.get("proxy_get_header_map_pairs"), None);
    // A stray tracestate still costs the map, so it can be removed.
    let (_, by_function) = cost(&mut host, &[("tracestate", "a=b")], 200);
    assert_eq!(by_function.get("proxy_get_header_map_pairs"), Some(&1));
    assert_eq!(by_function.get("proxy_remove_header_map_value"), Some(&1));
    // A context found by the lookup is read with the whole map: one lookup wasted, until such
    // requests are the majority and the map comes first.
    let tp = incoming();
    let (report, by_function) = cost(&mut host, &[("traceparent", &tp)], 200);
    assert_eq!(report.total_host_calls(), 3, "{by_function:?}");
    assert_eq!(by_function.get("proxy_get_header_map_value"), Some(&1));
    assert_eq!(by_function.get("proxy_get_header_map_pairs"), Some(&1));
    // A sampled root reads the map after deciding, before its edits.
    let mut host = load("{}");
    tick(&mut host, "warm-up");
    let (report, by_function) = cost(&mut host, &[], 200);
    assert_eq!(by_function.get("proxy_get_header_map_value"), Some(&2));
    assert_eq!(by_function.get("proxy_get_header_map_pairs"), Some(&1));
    assert_eq!(
        report.total_host_calls(),
        SAMPLED_HOST_CALLS + 3,
        "{by_function:?}"
    );
    // When most requests are sampled, every one needs the map anyway: the lookups stop.
    for _ in 0..64 {
        cost(&mut host, &[], 200);
    }
    let (report, by_function) = cost(&mut host, &[], 200);
    assert_eq!(by_function.get("proxy_get_header_map_value"), None);
    assert_eq!(by_function.get("proxy_get_header_map_pairs"), Some(&1));
    assert_eq!(
        report.total_host_calls(),
        SAMPLED_HOST_CALLS + 1,
        "{by_function:?}"
    );
}

#[test]
fn an_explicit_span_kind_saves_the_listener_direction_read() {
    // Where facts are read one property each: with CEL the direction rides in the one list.
    let mut host = load_without_cel(r#"{"span_kind":"server_and_client"}"#);
    tick(&mut host, "warm-up");
    for _ in 0..64 {
        cost(&mut host, &[("traceparent", &incoming())], 200);
    }
    let (report, by_function) = cost(&mut host, &[("traceparent", &incoming())], 200);
    assert_eq!(
        report.total_host_calls(),
        SAMPLED_PROPERTY_READS_HOST_CALLS - 1,
        "{by_function:?}"
    );
    assert_eq!(by_function.get("proxy_get_property").copied(), Some(8));
}

/// Host calls of an unsampled request.
const UNSAMPLED_HOST_CALLS: u64 = 2;

/// Host calls of a sampled inbound request with a sampled parent, answered 200.
const SAMPLED_HOST_CALLS: u64 = 6;

/// The same on a host without CEL: nine property reads in place of one evaluation.
const SAMPLED_PROPERTY_READS_HOST_CALLS: u64 = SAMPLED_HOST_CALLS - 1 + 9;
