//! The demo topology as a test: edge gateway → sidecar A → app A → sidecar A (outbound) →
//! sidecar B → app B, three Envoys exporting to one receiver. One request gives one trace whose spans
//! have the right kinds, parents and services, and an upstream error marks the right spans.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use hoptrace_e2e::mesh::{Mesh, MeshPlugins};
use hoptrace_e2e::otlp::{of_trace, ReceivedSpan, KIND_CLIENT, KIND_SERVER, STATUS_ERROR};
use hoptrace_e2e::traceparent::{self, TraceParent};
use hoptrace_e2e::Request;

const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn mesh() -> Mesh {
    Mesh::start(&MeshPlugins::demo(200)).unwrap()
}

/// Sends `path` into the gateway with a sampled client context; returns the status and the contexts
/// app A and app B received.
fn send(mesh: &Mesh, path: &str) -> (u16, TraceParent, TraceParent) {
    mesh.app_a.clear();
    mesh.app_b.clear();
    let response = Request::get(path)
        .header(
            "traceparent",
            &format!("00-{CLIENT_TRACE}-b7ad6b7169203331-01"),
        )
        .timeout(Duration::from_secs(20))
        .send(mesh.entry_port())
        .unwrap();
    let seen = |u: &hoptrace_e2e::Upstream| {
        traceparent::parse(u.last().unwrap().header("traceparent").unwrap()).unwrap()
    };
    (response.status, seen(&mesh.app_a), seen(&mesh.app_b))
}

#[test]
fn trace_context_crosses_the_mesh() {
    let mesh = mesh();
    let (status, at_a, at_b) = send(&mesh, &mesh.path_via_b("/leaf"));
    assert_eq!(status, 200);
    assert_ne!(
        at_a.trace_id, CLIENT_TRACE,
        "the untrusting edge starts its own trace"
    );
    assert_eq!(
        at_b.trace_id, at_a.trace_id,
        "one trace across both services"
    );
    assert_ne!(at_b.parent_id, at_a.parent_id, "each hop adds its own span");
    assert!(at_a.sampled() && at_b.sampled());
}

/// The one span of `spans` with this service and kind.
fn span<'a>(spans: &[&'a ReceivedSpan], service: &str, kind: i32) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.resource_str("service.name") == Some(service) && s.kind() == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{service} kind {kind}: {:#?}",
        spans.iter().map(|s| s.summary()).collect::<Vec<_>>()
    );
    found[0]
}

/// Waits for the five spans of the trace `trace_id`.
fn five_spans(mesh: &Mesh, trace_id: &str) -> Vec<ReceivedSpan> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let spans = mesh.receiver.spans();
        let trace: Vec<ReceivedSpan> = of_trace(&spans, trace_id).into_iter().cloned().collect();
        if trace.len() >= 5 || std::time::Instant::now() > deadline {
            return trace;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_request_gives_one_trace_of_five_spans_with_the_right_parents() {
    let mesh = mesh();
    let (status, at_a, at_b) = send(&mesh, &mesh.path_via_b("/leaf"));
    assert_eq!(status, 200);
    let trace = five_spans(&mesh, &at_a.trace_id);
    let spans: Vec<&ReceivedSpan> = trace.iter().collect();
    assert_eq!(
        spans.len(),
        5,
        "{:#?}",
        spans.iter().map(|s| s.summary()).collect::<Vec<_>>()
    );

    let gw_server = span(&spans, "edge-gateway", KIND_SERVER);
    let gw_client = span(&spans, "edge-gateway", KIND_CLIENT);
    let a_server = span(&spans, "svc-a", KIND_SERVER);
    let a_client = span(&spans, "svc-a", KIND_CLIENT);
    let b_server = span(&spans, "svc-b", KIND_SERVER);

    assert!(
        gw_server.parent_id().is_empty(),
        "the edge's SERVER span is the root"
    );
    assert_eq!(gw_client.parent_id(), gw_server.span_id());
    assert_eq!(a_server.parent_id(), gw_client.span_id());
    assert_eq!(
        at_a.parent_id,
        a_server.span_id(),
        "app A's parent is its inbound SERVER span"
    );
    assert_eq!(
        a_client.parent_id(),
        a_server.span_id(),
        "app A passed its context on"
    );
    assert_eq!(b_server.parent_id(), a_client.span_id());
    assert_eq!(at_b.parent_id, b_server.span_id());
    // Each hop lies within its caller's.
    for (outer, inner) in [
        (gw_server, gw_client),
        (gw_client, a_server),
        (a_server, a_client),
        (a_client, b_server),
    ] {
        assert!(
            inner.span.start_time_unix_nano >= outer.span.start_time_unix_nano,
            "{} in {}",
            inner.summary(),
            outer.summary()
        );
        assert!(
            inner.span.end_time_unix_nano <= outer.span.end_time_unix_nano,
            "{} in {}",
            inner.summary(),
            outer.summary()
        );
    }
}

#[test]
fn an_upstream_error_marks_the_right_spans() {
    let mesh = mesh();
    // 404 at the leaf: every CLIENT span on the way is an Error, no SERVER span is (4xx rule).
    let (status, at_a, _) = send(&mesh, &mesh.path_via_b("/status/404"));
    assert_eq!(status, 404);
    let trace = five_spans(&mesh, &at_a.trace_id);
    let spans: Vec<&ReceivedSpan> = trace.iter().collect();
    assert_eq!(spans.len(), 5);
    for s in &spans {
        let is_error = s.status_code() == STATUS_ERROR;
        assert_eq!(is_error, s.kind() == KIND_CLIENT, "4xx: {}", s.summary());
        assert_eq!(
            s.attr_int("http.response.status_code"),
            Some(404),
            "{}",
            s.summary()
        );
    }

    // 503 at the leaf: every span is an Error (5xx rule).
    let (status, at_a, _) = send(&mesh, &mesh.path_via_b("/status/503"));
    assert_eq!(status, 503);
    let trace = five_spans(&mesh, &at_a.trace_id);
    assert_eq!(trace.len(), 5);
    for s in &trace {
        assert_eq!(s.status_code(), STATUS_ERROR, "5xx: {}", s.summary());
    }
}
