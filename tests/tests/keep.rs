//! Keeping what the head sampler dropped, through the demo's three proxies (gateway → sidecar A →
//! sidecar B) at a ratio of 0.01: every failed or slow request's trace arrives whole and correctly
//! parented from all three, marked as kept; fast 200s that the head sampler dropped send nothing;
//! every proxy's `/stats` accounts for every kept span.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use hoptrace_e2e::accounting::{self, Accounting};
use hoptrace_e2e::demo_traffic::{check_chain, CHAIN};
use hoptrace_e2e::mesh::{Mesh, MeshPlugins};
use hoptrace_e2e::otlp::{of_trace, ReceivedSpan};
use hoptrace_e2e::traceparent::{self, TraceParent};
use hoptrace_e2e::Request;

const SPAN_WAIT: Duration = Duration::from_secs(15);
/// Every proxy samples 1 % at the head, keeps errors (the default) and requests of 250 ms or more.
const KEEP: &str =
    r#""sampler_arg":0.01,"keep":{"slower_than_ms":250},"batch":{"schedule_delay_ms":200}"#;

fn mesh() -> Mesh {
    Mesh::start(&MeshPlugins {
        gateway: format!(r#"{{"service_name":"edge-gateway","trust_incoming":false,{KEEP}}}"#),
        sidecar_a: format!(r#"{{"service_name":"svc-a",{KEEP}}}"#),
        sidecar_b: format!(r#"{{"service_name":"svc-b",{KEEP}}}"#),
    })
    .unwrap()
}

/// Sends `leaf` through the whole chain; the status and the context service A received.
fn send(mesh: &Mesh, leaf: &str) -> (u16, TraceParent) {
    mesh.app_a.clear();
    let response = Request::get(&mesh.path_via_b(leaf))
        .timeout(Duration::from_secs(20))
        .send(mesh.entry_port())
        .unwrap();
    let at_a = mesh.app_a.last().unwrap();
    let tp = traceparent::parse(at_a.header("traceparent").unwrap()).unwrap();
    (response.status, tp)
}

fn spans_of(mesh: &Mesh, trace_id: &str, n: usize) -> Vec<ReceivedSpan> {
    let deadline = std::time::Instant::now() + SPAN_WAIT;
    loop {
        let trace: Vec<ReceivedSpan> = of_trace(&mesh.receiver.spans(), trace_id)
            .into_iter()
            .cloned()
            .collect();
        if trace.len() >= n || std::time::Instant::now() > deadline {
            return trace;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The trace of a request the head sampler dropped arrives whole, every span marked kept for
/// `reason`, honest about how it was chosen.
fn assert_kept_whole(mesh: &Mesh, trace_id: &str, reason: &str) {
    let trace = spans_of(mesh, trace_id, CHAIN.len());
    let refs: Vec<&ReceivedSpan> = trace.iter().collect();
    let summaries: Vec<String> = trace.iter().map(ReceivedSpan::summary).collect();
    assert_eq!(check_chain(&refs), Ok(()), "{reason}: {summaries:#?}");
    for s in &trace {
        assert_eq!(s.attr_str("hoptrace.kept"), Some(reason), "{}", s.summary());
        assert_eq!(s.attr_int("sampling.priority"), Some(1), "{}", s.summary());
        assert!(
            !s.span.trace_state.contains("th:"),
            "no th: {}",
            s.span.trace_state
        );
        assert_eq!(
            s.span.flags & 1,
            0,
            "the sampled bit as decided at the head"
        );
    }
}

#[test]
fn failed_and_slow_requests_arrive_whole_at_one_percent_and_fast_ones_do_not() {
    let mesh = mesh();
    let (mut kept_error, mut kept_slow, mut head_sampled) = (0u64, 0u64, 0u64);
    for leaf in [
        "/status/503",
        "/leaf",
        "/status/503",
        "/slow/400",
        "/leaf",
        "/status/500",
    ] {
        let (status, at_a) = send(&mesh, leaf);
        if at_a.sampled() {
            // One in a hundred is sampled at the head: then it is an ordinary trace.
            head_sampled += 1;
            continue;
        }
        match leaf {
            "/leaf" => assert_eq!(status, 200),
            "/slow/400" => {
                assert_eq!(status, 200);
                assert_kept_whole(&mesh, &at_a.trace_id, "slow");
                kept_slow += CHAIN.len() as u64;
            }
            _ => {
                assert!(status >= 500, "{leaf}: {status}");
                assert_kept_whole(&mesh, &at_a.trace_id, "error");
                kept_error += CHAIN.len() as u64;
            }
        }
    }
    // Fast 200s the head sampler dropped send nothing: every span received is a kept one (or from
    // a head-sampled request).
    std::thread::sleep(Duration::from_millis(600));
    if head_sampled == 0 {
        let spans = mesh.receiver.spans();
        assert_eq!(spans.len() as u64, kept_error + kept_slow);
        assert!(spans.iter().all(|s| s.attr_str("hoptrace.kept").is_some()));
    }

    // /stats: kept spans by reason, summed over the proxies, and each proxy's identity.
    let mut total = Accounting::default();
    for (name, envoy) in mesh.envoys() {
        let a = accounting::wait_for(envoy, SPAN_WAIT, Accounting::settled).unwrap();
        assert!(a.balanced(), "{name}: {a:?}");
        assert_eq!(a.dropped("keep_limit"), 0, "{name}: {a:?}");
        total.kept_error += a.kept_error;
        total.kept_slow += a.kept_slow;
        total.sampled += a.sampled;
    }
    if head_sampled == 0 {
        assert_eq!((total.kept_error, total.kept_slow), (kept_error, kept_slow));
        assert_eq!(total.sampled, 0);
    }
}
