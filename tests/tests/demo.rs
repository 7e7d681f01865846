//! `make demo` as a test, and what the demo topology must show beyond tests/tests/mesh.rs (which covers
//! one request's five spans with their kinds, parents and services, and 404/503 error marking):
//! - the demo's own flow (library `demo_traffic::run`, no Ctrl-C wait) passes every check it prints,
//!   its report draws every span, and its OTLP/JSON file reads back with the official schema;
//! - an invalid incoming `traceparent` restarts the trace across all three proxies;
//! - at the untrusting edge a client's sampled flag does not force sampling (sampler ratio < 1), while
//!   the same sampler at a trusting edge follows it;
//! - a connection reset at service B, answered 503 by its sidecar, marks every span of the trace.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use hoptrace_e2e::accounting;
use hoptrace_e2e::demo_traffic::{self, check_chain, Purpose, CHAIN};
use hoptrace_e2e::mesh::{Mesh, MeshPlugins};
use hoptrace_e2e::otlp::{self, of_trace, ReceivedSpan, KIND_CLIENT, KIND_SERVER, STATUS_ERROR};
use hoptrace_e2e::tempdir::TempDir;
use hoptrace_e2e::traceparent::{self, TraceParent};
use hoptrace_e2e::waterfall::{self, Style};
use hoptrace_e2e::Request;

const BATCH: &str = r#""batch":{"schedule_delay_ms":200}"#;
const SPAN_WAIT: Duration = Duration::from_secs(15);

fn plugins(gateway_extra: &str) -> MeshPlugins {
    MeshPlugins {
        gateway: format!(r#"{{"service_name":"edge-gateway",{gateway_extra}{BATCH}}}"#),
        ..MeshPlugins::demo(200)
    }
}

/// Sends `path` to the gateway with these header lines; returns the status and the contexts services
/// A and B received.
fn send(
    mesh: &Mesh,
    path: &str,
    lines: &[(&str, &str)],
) -> (u16, Option<TraceParent>, Option<TraceParent>) {
    mesh.app_a.clear();
    mesh.app_b.clear();
    let mut request = Request::get(path).timeout(Duration::from_secs(20));
    for (name, value) in lines {
        request = request.header(name, value);
    }
    let response = request.send(mesh.entry_port()).unwrap();
    let seen = |u: &hoptrace_e2e::Upstream| {
        u.last()
            .and_then(|r| r.header("traceparent").map(str::to_string))
            .map(|tp| traceparent::parse(&tp).unwrap())
    };
    (response.status, seen(&mesh.app_a), seen(&mesh.app_b))
}

/// Waits for `n` spans of `trace_id`.
fn spans_of(mesh: &Mesh, trace_id: &str, n: usize) -> Vec<ReceivedSpan> {
    let deadline = std::time::Instant::now() + SPAN_WAIT;
    loop {
        let all = mesh.receiver.spans();
        let trace: Vec<ReceivedSpan> = of_trace(&all, trace_id).into_iter().cloned().collect();
        if trace.len() >= n || std::time::Instant::now() > deadline {
            return trace;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn summaries(spans: &[ReceivedSpan]) -> Vec<String> {
    spans.iter().map(ReceivedSpan::summary).collect()
}

fn the_span<'a>(spans: &'a [ReceivedSpan], service: &str, kind: i32) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| waterfall::service(s) == service && s.kind() == kind)
        .collect();
    assert_eq!(found.len(), 1, "{service} {kind}: {:#?}", summaries(spans));
    found[0]
}

#[test]
fn the_demo_run_passes_its_checks_and_its_file_reads_back() {
    let mesh = Mesh::start(&MeshPlugins::demo(200)).unwrap();
    let outcome = demo_traffic::run(&mesh, &|| false).unwrap();
    assert!(
        outcome.ok(),
        "{}",
        demo_traffic::render_report(&outcome, &Style::plain())
    );
    assert_eq!(outcome.sent.len(), demo_traffic::plan().len());

    // Every planned trace is the whole chain, on its own trace id.
    let ids: std::collections::BTreeSet<&str> =
        outcome.sent.iter().filter_map(|s| s.trace_id()).collect();
    assert_eq!(ids.len(), outcome.sent.len(), "one trace per request");
    for s in &outcome.sent {
        let id = s.trace_id().unwrap();
        assert_eq!(check_chain(&outcome.trace(id)), Ok(()), "{}", s.target);
    }
    let client = outcome
        .sent
        .iter()
        .find(|s| s.planned.purpose == Purpose::ClientContext)
        .unwrap();
    assert_ne!(client.trace_id(), Some(demo_traffic::CLIENT_TRACE_ID));

    // The report draws one bar per span and says the verdict in words.
    let report = demo_traffic::render_report(&outcome, &Style::plain());
    let bars = report.lines().filter(|l| l.ends_with('│')).count();
    assert_eq!(bars, CHAIN.len() * outcome.sent.len(), "{report}");
    assert!(
        report.contains("✓ one trace crosses 3 proxies with correct parenting"),
        "{report}"
    );
    assert!(
        !report.contains('✗') && !report.contains('\x1b'),
        "{report}"
    );

    // Under each waterfall, each proxy's access-log line for the trace, naming its spans.
    for s in &outcome.sent {
        let id = s.trace_id().unwrap();
        let trace = outcome.trace(id);
        let span = |service: &str, kind: i32| {
            trace
                .iter()
                .find(|x| x.resource_str("service.name") == Some(service) && x.kind() == kind)
                .map(|x| x.span_id())
                .unwrap_or_else(|| panic!("{service} {kind} in {id}"))
        };
        let (gw_server, gw_client) = (
            span("edge-gateway", KIND_SERVER),
            span("edge-gateway", KIND_CLIENT),
        );
        let (a_server, a_client) = (span("svc-a", KIND_SERVER), span("svc-a", KIND_CLIENT));
        let b_server = span("svc-b", KIND_SERVER);
        let want = [
            ("gateway gw", gw_client.clone(), gw_server.clone()),
            ("sidecar-a inbound", a_server.clone(), a_server.clone()),
            ("sidecar-a outbound", a_client.clone(), "-".to_string()),
            ("sidecar-b inbound", b_server.clone(), b_server.clone()),
        ];
        let lines = &outcome.access_logs[id];
        assert_eq!(lines.len(), want.len(), "{id}: {lines:#?}");
        for ((listener, line), (want_listener, span_id, server_span_id)) in lines.iter().zip(want) {
            assert_eq!(listener, want_listener, "{line}");
            let ids = format!(
                "trace_id={id} span_id={span_id} server_span_id={server_span_id} recorded=1"
            );
            assert!(
                line.ends_with(&ids),
                "{listener}: {line} should end with {ids}"
            );
            assert!(report.contains(line.as_str()), "{report}");
        }
    }

    // The file: one OTLP/JSON document that the official schema reads back to the same spans.
    let dir = TempDir::new("demo-json").unwrap();
    let path = dir.path().join("traces.json");
    demo_traffic::write_json(&path, &demo_traffic::merged_export(&mesh.receiver)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1, "one document");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let trace_id = first["traceId"].as_str().unwrap();
    assert!(
        trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "hex trace id, as OTLP/JSON and Jaeger want: {first}"
    );
    assert!(
        first["startTimeUnixNano"].is_string(),
        "64-bit as a string: {first}"
    );
    let back = otlp::decode_request(text.as_bytes(), Some("application/json"), None).unwrap();
    let mut read: Vec<String> = otlp::flatten(&back).iter().map(|s| s.span_id()).collect();
    let mut got: Vec<String> = mesh.receiver.spans().iter().map(|s| s.span_id()).collect();
    read.sort();
    got.sort();
    assert_eq!(read, got);

    // An invalid context at the untrusting edge is not even worth a link: a plain new root.
    let (status, at_a, _) = send(
        &mesh,
        &mesh.path_via_b("/x"),
        &[(
            "traceparent",
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        )],
    );
    assert_eq!(status, 200);
    let trace = spans_of(&mesh, &at_a.unwrap().trace_id, CHAIN.len());
    let root = the_span(&trace, "edge-gateway", KIND_SERVER);
    assert!(root.span.links.is_empty(), "{:?}", root.span.links);
}

#[test]
fn an_invalid_incoming_traceparent_restarts_the_trace_across_the_mesh() {
    // A trusting edge, so a valid context would be continued: the control row shows that.
    let mesh = Mesh::start(&plugins(r#""trust_incoming":true,"#)).unwrap();
    let parent = "b7ad6b7169203331";
    #[rustfmt::skip]
    let cases: &[(&str, &[&str], bool)] = &[
        // (case, traceparent lines with {T} for this row's trace id, continued)
        ("valid and sampled (control)", &["00-{T}-b7ad6b7169203331-01"],                             true),
        ("upper-case hex",              &["00-{U}-B7AD6B7169203331-01"],                             false),
        ("version ff",                  &["ff-{T}-b7ad6b7169203331-01"],                             false),
        ("all-zero parent id",          &["00-{T}-0000000000000000-01"],                             false),
        ("version 00 too long",         &["00-{T}-b7ad6b7169203331-01-x"],                           false),
        ("two traceparent lines",       &["00-{T}-b7ad6b7169203331-01", "00-{T}-b7ad6b7169203332-01"], false),
        ("parent id too short",         &["00-{T}-b7ad6b716920333-01"],                              false),
    ];
    for (i, (case, lines, continued)) in cases.iter().enumerate() {
        let trace_id = format!("0af7651916cd43dd8448eb211c8031{i:02x}");
        let lines: Vec<String> = lines
            .iter()
            .map(|l| {
                l.replace("{T}", &trace_id)
                    .replace("{U}", &trace_id.to_ascii_uppercase())
            })
            .collect();
        let headers: Vec<(&str, &str)> =
            lines.iter().map(|l| ("traceparent", l.as_str())).collect();
        let (status, at_a, at_b) = send(&mesh, &mesh.path_via_b("/leaf"), &headers);
        assert_eq!(status, 200, "{case}");
        let (at_a, at_b) = (at_a.unwrap(), at_b.unwrap());
        assert_eq!(
            at_a.trace_id, at_b.trace_id,
            "{case}: one trace across both services"
        );
        assert!(at_a.sampled(), "{case}: ratio 1 samples");

        let trace = spans_of(&mesh, &at_a.trace_id, CHAIN.len());
        let root = the_span(&trace, "edge-gateway", KIND_SERVER);
        if *continued {
            assert_eq!(at_a.trace_id, trace_id, "{case}");
            assert_eq!(
                root.parent_id(),
                parent,
                "{case}: the client's span is the parent"
            );
        } else {
            assert_ne!(at_a.trace_id, trace_id, "{case}: a new trace id");
            assert!(
                at_a.random(),
                "{case}: a generated trace id has the random bit"
            );
            let refs: Vec<&ReceivedSpan> = trace.iter().collect();
            assert_eq!(
                check_chain(&refs),
                Ok(()),
                "{case}: {:#?}",
                summaries(&trace)
            );
            assert!(
                root.span.links.is_empty(),
                "{case}: nothing valid to link to"
            );
            assert!(
                of_trace(&mesh.receiver.spans(), &trace_id).is_empty(),
                "{case}: no span carries the invalid context's trace id"
            );
        }
    }
}

#[test]
fn a_clients_sampled_flag_does_not_force_sampling_at_an_untrusting_edge() {
    // ratio 1e-12: a root decision is (all but) never to sample, so only a trusted sampled parent
    // could make these requests sampled.
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        // (case, gateway config, sampled)
        ("untrusting edge (demo)",    r#""trust_incoming":false,"sampler_arg":1e-12,"#, false),
        ("trusting edge (control)",   r#""trust_incoming":true,"sampler_arg":1e-12,"#,  true),
    ];
    const REQUESTS: usize = 4;
    for (case, gateway, sampled) in cases {
        let mesh = Mesh::start(&plugins(gateway)).unwrap();
        for i in 0..REQUESTS {
            let trace_id = format!("4bf92f3577b34da6a3ce929d0e0e47{i:02x}");
            let tp = format!("00-{trace_id}-00f067aa0ba902b7-01");
            let (status, at_a, at_b) =
                send(&mesh, &mesh.path_via_b("/leaf"), &[("traceparent", &tp)]);
            assert_eq!(status, 200, "{case}");
            let (at_a, at_b) = (at_a.unwrap(), at_b.unwrap());
            assert_eq!(at_a.sampled(), *sampled, "{case}: at service A");
            assert_eq!(at_b.sampled(), *sampled, "{case}: sidecars follow the edge");
            assert_eq!(at_a.trace_id == trace_id, *sampled, "{case}: trace id");
            assert_eq!(at_b.trace_id, at_a.trace_id, "{case}");
        }
        // Counters reach /stats on the filter's tick: wait for every request to be counted (sidecar A
        // sees each twice, inbound and outbound).
        let counted = |envoy: &hoptrace_e2e::Envoy, requests: usize| {
            accounting::wait_for(envoy, SPAN_WAIT, |a| a.requests >= requests as u64).unwrap()
        };
        let gateway = counted(&mesh.gateway, REQUESTS);
        assert_eq!(gateway.requests, REQUESTS as u64, "{case}");
        let expected_spans = if *sampled { CHAIN.len() * REQUESTS } else { 0 };
        let sampled_spans = gateway.sampled
            + counted(&mesh.sidecar_a, 2 * REQUESTS).sampled
            + counted(&mesh.sidecar_b, REQUESTS).sampled;
        assert_eq!(sampled_spans, expected_spans as u64, "{case}");
        if *sampled {
            let spans = mesh.receiver.wait_for_spans(expected_spans, SPAN_WAIT);
            assert_eq!(spans.len(), expected_spans, "{case}");
        } else {
            // Past two batch delays nothing has come, and the counters above say nothing will.
            std::thread::sleep(Duration::from_millis(600));
            assert!(
                mesh.receiver.spans().is_empty(),
                "{case}: {:#?}",
                summaries(&mesh.receiver.spans())
            );
        }
    }
}

#[test]
fn a_reset_at_service_b_answered_503_by_its_sidecar_marks_every_span() {
    let mesh = Mesh::start(&MeshPlugins::demo(200)).unwrap();
    let (status, at_a, _) = send(&mesh, &mesh.path_via_b("/reset"), &[]);
    assert_eq!(status, 503, "sidecar B answers for the reset");
    let trace = spans_of(&mesh, &at_a.unwrap().trace_id, CHAIN.len());
    let refs: Vec<&ReceivedSpan> = trace.iter().collect();
    assert_eq!(check_chain(&refs), Ok(()), "{:#?}", summaries(&trace));
    for s in &trace {
        assert_eq!(s.status_code(), STATUS_ERROR, "{}", s.summary());
        assert_eq!(
            s.attr_int("http.response.status_code"),
            Some(503),
            "{}",
            s.summary()
        );
    }
    let b = the_span(&trace, "svc-b", KIND_SERVER);
    assert!(
        b.attr_str("error.type").is_some_and(|t| !t.is_empty()),
        "the proxy that saw the reset says why: {}",
        b.summary()
    );
}

#[test]
fn the_demos_keep_act_shows_the_failed_and_slow_traces_the_head_sampler_dropped() {
    let mesh = hoptrace_e2e::demo_keep::start(200).unwrap();
    let outcome = hoptrace_e2e::demo_keep::run(&mesh, &|| false, SPAN_WAIT).unwrap();
    let report = hoptrace_e2e::demo_keep::render(&outcome, &Style::plain());
    assert!(outcome.ok(), "{report}");
    assert!(
        report.contains("the head sampler dropped it; kept (error)")
            || outcome.sent.iter().any(|s| s.sampled()),
        "{report}"
    );
}
