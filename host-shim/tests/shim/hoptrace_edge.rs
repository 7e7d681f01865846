//! hoptrace.wasm at an internet-facing edge, against what a hostile client can send: a flood of
//! slow sampled requests with the largest headers Envoy takes by default (guest memory stays
//! under the stated bound), and a query built to grow when redacted (the spans keep their
//! attribute limit, none is dropped as too large).

use std::time::Duration;

use hoptrace_shim::CalloutResponse;

use crate::common;
use crate::hoptrace_support::{load, metric, spans, Accounting, TICK};

/// hoptrace-core's per-VM recording budget (`memory::RECORDING_BYTES`).
const RECORDING_BYTES: usize = 16 << 20;
/// hoptrace-core's bound on one stream table entry (`memory::STREAM_ENTRY_BYTES`).
const STREAM_ENTRY_BYTES: usize = 32;
/// Envoy's default `max_request_headers_kb`: the most header bytes a client gets through.
const ENVOY_MAX_REQUEST_HEADERS: usize = 60 * 1024;
/// Slow requests in the flood: enough that unbounded recordings (one request's headers each)
/// would hold 20 times the budget.
const FLOOD: usize = 6_000;
/// Allocator slack over the bound: free lists and fragmentation in a heap that grew to it, and
/// one request's header map in flight.
const SLACK: usize = 2 << 20;

/// Header lines that add up to Envoy's limit: a long query that redaction would grow, a long
/// user agent, a captured header and a tracestate, each far past the attribute limit.
fn largest_request(i: usize) -> Vec<(String, String)> {
    let query = "=&".repeat(10 * 1024);
    let mut headers = common::get(&format!("/flood/{i}?{query}"), &[]);
    headers.push(("user-agent".into(), "u".repeat(16 * 1024)));
    headers.push(("x-blob".into(), "b".repeat(20 * 1024)));
    let size: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(size <= ENVOY_MAX_REQUEST_HEADERS, "{size}");
    headers
}

/// Ticks, answering every export 200, until the queue is empty.
fn drain(host: &mut hoptrace_shim::Host) {
    for _ in 0..100 {
        host.advance(TICK).unwrap();
        for c in host.callouts() {
            host.answer(c.id, CalloutResponse::new(200)).unwrap();
        }
        if metric(host, "hoptrace.queue.spans") == 0 {
            return;
        }
    }
    panic!("the queue did not drain");
}

#[test]
fn a_flood_of_slow_sampled_requests_stays_under_the_memory_bound() {
    let config =
        r#"{"sampler":"always_on","attributes":{"request_headers":{"x-blob":"app.blob"}}}"#;
    let mut host = load(config);
    let at_load = host.memory_bytes();
    let mut open = Vec::with_capacity(FLOOD);
    for i in 0..FLOOD {
        let req = host.request(largest_request(i)).unwrap();
        open.push(req.id());
    }
    host.advance(TICK).unwrap();
    let peak = host.memory_bytes();
    let bound = RECORDING_BYTES + FLOOD * STREAM_ENTRY_BYTES + SLACK;
    let unbounded = FLOOD * ENVOY_MAX_REQUEST_HEADERS;
    println!(
        "{FLOOD} slow sampled requests of ~{} KiB headers: guest memory {at_load} B at load, \
         {peak} B with all open (+{} B; bound +{bound} B; their headers total {unbounded} B)",
        ENVOY_MAX_REQUEST_HEADERS >> 10,
        peak - at_load
    );
    assert!(peak - at_load <= bound, "grew {} B", peak - at_load);
    // Past the budget, sampled requests were counted, not recorded.
    let refused = metric(&host, "hoptrace.spans.dropped.queue_full");
    println!("{refused} of them were not recorded: the budget was spent");
    assert!(refused > 0, "the recording budget was reached");
    assert!(refused < FLOOD as u64, "most requests were recorded");

    // Every stream ends; every span is accounted for, and the budget is whole again.
    for id in open {
        let mut req = host.stream(id).unwrap();
        req.respond(200, [("content-length", "0")]).unwrap();
        req.end().unwrap();
    }
    drain(&mut host);
    let a = Accounting::check(&host, "after the flood");
    assert_eq!(a.sampled, FLOOD as u64);
    assert_eq!(a.too_large, 0, "no span of the flood is too large");
    assert_eq!(a.exported + a.queue_full, FLOOD as u64, "{a:?}");
    let before = a.queue_full;
    let mut req = host.request(largest_request(FLOOD)).unwrap();
    req.respond(200, [("content-length", "0")]).unwrap();
    req.end().unwrap();
    drain(&mut host);
    let a = Accounting::check(&host, "one more");
    assert_eq!(a.queue_full, before, "recorded once the flood is over");
    assert!(host.failure().is_none());
}

#[test]
fn a_query_that_grows_when_redacted_keeps_the_attribute_limit() {
    let mut host = load(
        r#"{"sampler":"always_on","span_kind":"server_and_client","batch":{"schedule_delay_ms":100}}"#,
    );
    let query = "=&".repeat(8 * 1024);
    let mut req = host
        .request(common::get(&format!("/q?{query}"), &[]))
        .unwrap();
    req.respond(200, [("content-length", "0")]).unwrap();
    req.end().unwrap();
    let mut token = host
        .request(common::get(
            "/cb?eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
            &[],
        ))
        .unwrap();
    token.respond(200, [("content-length", "0")]).unwrap();
    token.end().unwrap();
    host.advance(Duration::from_millis(300)).unwrap();
    let callouts = host.callouts();
    assert!(!callouts.is_empty(), "an export went out");
    let mut all = Vec::new();
    for c in &callouts {
        all.extend(spans(c));
        host.answer(c.id, CalloutResponse::new(200)).unwrap();
    }
    assert_eq!(all.len(), 4, "two hops, SERVER + CLIENT each");
    let value = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        span.attributes.iter().find(|a| a.key == key).and_then(|a| {
            match a.value.as_ref()?.value.as_ref()? {
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => {
                    Some(s.clone())
                }
                _ => None,
            }
        })
    };
    for span in &all {
        for a in &span.attributes {
            if let Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) =
                a.value.as_ref().and_then(|v| v.value.as_ref())
            {
                assert!(s.len() <= 1024, "{}: {} bytes", a.key, s.len());
            }
        }
    }
    let queries: Vec<String> = all.iter().filter_map(|s| value(s, "url.query")).collect();
    assert!(
        queries.iter().any(|q| q.starts_with("=REDACTED&=REDACTED")),
        "{queries:?}"
    );
    assert!(
        queries.iter().any(|q| q == "REDACTED"),
        "a bare token is redacted whole: {queries:?}"
    );
    assert!(all
        .iter()
        .filter_map(|s| value(s, "url.full"))
        .all(|u| !u.contains("eyJ")));
    host.advance(TICK).unwrap();
    let a = Accounting::check(&host, "after export");
    assert_eq!((a.exported, a.too_large), (4, 0));
    assert!(metric(&host, "hoptrace.attributes.truncated") >= 2);
}

#[test]
fn an_untrusting_edge_forwards_none_of_the_clients_context_headers() {
    let mut host =
        load(r#"{"trust_incoming":false,"propagation":{"inject":["tracecontext","b3multi"]}}"#);
    let extra = [
        ("b3", "463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-d"),
        ("x-b3-flags", "1"),
        (
            "uber-trace-id",
            "463ac35c9f6413ad48485a3953bb6124:a2fb4a1d1a96d312:0:3",
        ),
        ("uberctx-role", "admin"),
        ("baggage", "role=admin"),
    ];
    let req = host.request(common::get("/", &extra)).unwrap();
    let up = req.upstream_headers();
    for (name, _) in extra {
        assert!(up.get(name).is_none(), "{name} reached the upstream");
    }
    let tp = up.get_str("traceparent").unwrap().to_owned();
    assert_eq!(up.get_str("x-b3-traceid"), Some(&tp[3..35]));
    assert_eq!(up.get_str("x-b3-spanid"), Some(&tp[36..52]));
    req.end().unwrap();
}
