//! Spans in a real Envoy: for every hop, timed, exported as batched OTLP through the proxy's
//! own callout, decoded here with the official schema. Ids and parents are checked against what the
//! echo upstream actually received, times against the wall clock and the upstream's delays, and the
//! `/stats` counters against the identity sampled = exported + dropped + queued.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoptrace_e2e::accounting::{self, Accounting};
use hoptrace_e2e::config::{LOCAL_REPLY_PATH, LOCAL_REPLY_STATUS};
use hoptrace_e2e::otlp::{
    duplicate_span_ids, of_trace, ReceivedSpan, KIND_CLIENT, KIND_SERVER, STATUS_ERROR,
};
use hoptrace_e2e::receiver::Answered;
use hoptrace_e2e::traceparent;
use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Receiver, Reply, Request, Upstream};

/// Short batching delay so spans arrive fast; everything else at its default unless a test says so.
const FAST_BATCH: &str = r#""batch":{"schedule_delay_ms":200}"#;
const SPAN_WAIT: Duration = Duration::from_secs(15);

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

struct Gateway {
    receiver: Receiver,
    upstream: Upstream,
    envoy: Envoy,
}

fn gateway(plugin: &str, workers: u32, route_timeout: Duration) -> Gateway {
    let receiver = Receiver::start().unwrap();
    let upstream = Upstream::start("echo").unwrap();
    let config = EnvoyConfig::new()
        .concurrency(workers)
        .collector(receiver.port())
        .listener(
            Listener::gateway("gw", upstream.port())
                .plugin(plugin)
                .route_timeout(route_timeout),
        );
    let envoy = Envoy::start(&config).unwrap_or_else(|e| panic!("{e}"));
    Gateway {
        receiver,
        upstream,
        envoy,
    }
}

/// A sampled incoming context whose trace id ends in `n`.
fn incoming(n: usize) -> (String, String) {
    let trace_id = format!("4bf92f3577b34da6a3ce929d{n:08x}");
    let parent_id = format!("00f067aa0ba9{n:04x}");
    (trace_id, parent_id)
}

/// Sends GET `target` with a sampled traceparent; returns (status, parent id the upstream saw).
fn send_traced(gw: &Gateway, target: &str, trace_id: &str, parent_id: &str) -> (u16, String) {
    gw.upstream.clear();
    let response = Request::get(target)
        .header("traceparent", &format!("00-{trace_id}-{parent_id}-01"))
        .header("user-agent", "hoptrace-e2e")
        .send(gw.envoy.port("gw"))
        .unwrap();
    let seen = gw
        .upstream
        .last()
        .and_then(|r| r.header("traceparent").map(str::to_string))
        .map(|tp| traceparent::parse(&tp).unwrap().parent_id)
        .unwrap_or_default();
    (response.status, seen)
}

/// Sends each (case, path, status the client must get) with a sampled context of its own (trace ids
/// from `incoming(first + i)`), then waits for their SERVER and CLIENT spans: (spans, trace ids).
fn send_cases(
    gw: &Gateway,
    cases: &[(&str, &str, u16)],
    first: usize,
) -> (Vec<ReceivedSpan>, Vec<String>) {
    let mut traces = Vec::new();
    for (i, (case, path, status)) in cases.iter().enumerate() {
        let (trace_id, parent_id) = incoming(first + i);
        let (got, _) = send_traced(gw, path, &trace_id, &parent_id);
        assert_eq!(got, *status, "{case}");
        traces.push(trace_id);
    }
    let spans = gw.receiver.wait_for_spans(2 * cases.len(), SPAN_WAIT);
    assert_eq!(spans.len(), 2 * cases.len());
    (spans, traces)
}

/// The SERVER and the CLIENT span of a gateway request.
fn server_and_client<'a>(
    spans: &'a [ReceivedSpan],
    trace_id: &str,
) -> (&'a ReceivedSpan, &'a ReceivedSpan) {
    let trace = of_trace(spans, trace_id);
    assert_eq!(
        trace.len(),
        2,
        "SERVER + CLIENT for {trace_id}: {:#?}",
        summaries(&trace)
    );
    let server = trace
        .iter()
        .find(|s| s.kind() == KIND_SERVER)
        .expect("a SERVER span");
    let client = trace
        .iter()
        .find(|s| s.kind() == KIND_CLIENT)
        .expect("a CLIENT span");
    (server, client)
}

fn summaries(spans: &[&ReceivedSpan]) -> Vec<String> {
    spans.iter().map(|s| s.summary()).collect()
}

#[test]
fn gateway_gives_a_server_and_a_client_span_per_request_with_ids_from_the_wire() {
    const N: usize = 5;
    let plugin = format!(r#"{{"service_name":"e2e-gateway",{FAST_BATCH}}}"#);
    let gw = gateway(&plugin, 1, Duration::from_secs(5));
    let started = now_nanos();
    let mut sent = Vec::new();
    for i in 0..N {
        let (trace_id, parent_id) = incoming(i);
        let (status, upstream_parent) = send_traced(
            &gw,
            &format!("/items/{i}?token=secret{i}"),
            &trace_id,
            &parent_id,
        );
        assert_eq!(status, 200);
        sent.push((trace_id, parent_id, upstream_parent, i));
    }
    // One new trace (no traceparent) and one the parent did not sample.
    let fresh = Request::get("/fresh").send(gw.envoy.port("gw")).unwrap();
    assert_eq!(fresh.status, 200);
    let fresh_tp =
        traceparent::parse(gw.upstream.last().unwrap().header("traceparent").unwrap()).unwrap();
    let (unsampled_trace, unsampled_parent) = incoming(999);
    Request::get("/unsampled")
        .header(
            "traceparent",
            &format!("00-{unsampled_trace}-{unsampled_parent}-00"),
        )
        .send(gw.envoy.port("gw"))
        .unwrap();

    let expected = 2 * (N + 1);
    gw.receiver.wait_for_spans(expected, SPAN_WAIT);
    // Give a stray extra batch the chance to show up before counting exactly.
    std::thread::sleep(Duration::from_millis(600));
    let spans = gw.receiver.spans();
    let ended = now_nanos();
    assert_eq!(
        spans.len(),
        expected,
        "{:#?}",
        spans.iter().map(|s| s.summary()).collect::<Vec<_>>()
    );
    assert!(
        of_trace(&spans, &unsampled_trace).is_empty(),
        "an unsampled request makes no span"
    );
    assert!(duplicate_span_ids(&spans).is_empty());

    for (trace_id, parent_id, upstream_parent, i) in &sent {
        let (server, client) = server_and_client(&spans, trace_id);
        // Parenting: incoming parent -> SERVER -> CLIENT, and the CLIENT span is the upstream's parent.
        assert_eq!(
            server.parent_id(),
            *parent_id,
            "SERVER's parent is the caller's span"
        );
        assert_eq!(
            client.parent_id(),
            server.span_id(),
            "CLIENT's parent is SERVER"
        );
        assert_eq!(
            client.span_id(),
            *upstream_parent,
            "upstream's parent-id is the CLIENT span"
        );
        assert_ne!(server.span_id(), client.span_id());

        for span in [server, client] {
            let what = span.summary();
            assert_eq!(span.span.name, "GET gw_route", "{what}");
            assert_eq!(span.attr_str("http.request.method"), Some("GET"), "{what}");
            assert_eq!(
                span.attr_int("http.response.status_code"),
                Some(200),
                "{what}"
            );
            for key in ["url.query", "url.full"] {
                if let Some(value) = span.attr_str(key) {
                    assert!(
                        !value.contains("secret"),
                        "query redacted by default: {key}={value}"
                    );
                }
            }
            assert_ne!(span.status_code(), STATUS_ERROR, "{what}");
            assert_eq!(
                span.resource_str("service.name"),
                Some("e2e-gateway"),
                "{what}"
            );
            assert_eq!(
                span.span.flags & 0x01,
                0x01,
                "span flags carry the sampled bit: {what}"
            );
            assert!(span.duration() > Duration::ZERO, "{what}");
            assert!(span.duration() < Duration::from_secs(5), "{what}");
            assert!(
                span.span.start_time_unix_nano >= started - 1_000_000_000,
                "start is wall-clock time: {what}"
            );
            assert!(span.span.end_time_unix_nano <= ended, "{what}");
        }
        // HTTP semantic conventions: a SERVER span has url.path (+ url.query), a CLIENT span url.full.
        let path = format!("/items/{i}");
        assert_eq!(
            server.attr_str("url.path"),
            Some(path.as_str()),
            "{}",
            server.summary()
        );
        let full = client.attr_str("url.full").unwrap_or_default();
        assert!(
            full.starts_with("http://") && full.contains(&path),
            "url.full {full:?}"
        );
        assert!(
            server.attr_str("server.address").is_some(),
            "{}",
            server.summary()
        );
        assert_eq!(
            client.attr_str("envoy.upstream.cluster"),
            Some("gw_upstream")
        );
        assert_eq!(server.attr_str("user_agent.original"), Some("hoptrace-e2e"));
        // The stream-end facts Envoy answers in one CEL list (request.protocol, source.address,
        // upstream.address...), decoded into attributes.
        assert_eq!(server.attr_str("network.protocol.version"), Some("1.1"));
        assert_eq!(server.attr_str("client.address"), Some("127.0.0.1"));
        assert_eq!(client.attr_str("network.peer.address"), Some("127.0.0.1"));
        assert!(client.attr_int("network.peer.port").is_some());
        // The upstream call lies within the hop.
        assert!(client.span.start_time_unix_nano >= server.span.start_time_unix_nano);
        assert!(client.span.end_time_unix_nano <= server.span.end_time_unix_nano);
    }

    let (server, client) = server_and_client(&spans, &fresh_tp.trace_id);
    assert!(
        server.parent_id().is_empty(),
        "a new trace starts with a root SERVER span"
    );
    assert_eq!(client.span_id(), fresh_tp.parent_id);
    assert_eq!(
        server.span.flags & 0x03,
        0x03,
        "sampled + random on a generated trace id"
    );

    // Batching: spans travel many to a POST, not one by one.
    let posts = gw.receiver.requests().len();
    assert!(posts * 2 <= expected, "{posts} POSTs for {expected} spans");

    // Those facts came from the one-call CEL path, not the property-by-property fallback.
    let log = gw.envoy.log();
    assert!(
        !log.contains("stream-end CEL list unusable") && !log.contains("has no CEL"),
        "{log}"
    );

    let acc = accounting::wait_for(&gw.envoy, Duration::from_secs(5), Accounting::settled).unwrap();
    assert_eq!(acc.requests, (N + 2) as u64, "{acc:?}");
    assert_eq!(acc.sampled, expected as u64, "{acc:?}");
    assert_eq!(acc.exported, expected as u64, "{acc:?}");
    assert_eq!(acc.dropped_total(), 0, "{acc:?}");
}

#[test]
fn durations_and_statuses_follow_the_upstream() {
    let plugin = format!("{{{FAST_BATCH}}}");
    let gw = gateway(&plugin, 1, Duration::from_millis(400));
    #[rustfmt::skip]
    let cases: &[(&str, &str, u16)] = &[
        // (case, path, status the client gets)
        ("slow 200 ms",        "/slow/200",    200),
        ("upstream 503",       "/status/503",  503),
        ("upstream 404",       "/status/404",  404),
        ("upstream reset",     "/reset",       503),
        ("route timeout",      "/slow/3000",   504),
        ("local reply",        LOCAL_REPLY_PATH, LOCAL_REPLY_STATUS),
    ];
    let (spans, traces) = send_cases(&gw, cases, 100);
    let span = |i: usize| server_and_client(&spans, &traces[i]);

    let (server, client) = span(0);
    for s in [server, client] {
        assert!(
            s.duration() >= Duration::from_millis(200),
            "slow: {}",
            s.summary()
        );
        assert!(
            s.duration() < Duration::from_secs(2),
            "slow: {}",
            s.summary()
        );
    }

    let (server, client) = span(1);
    assert_eq!(server.status_code(), STATUS_ERROR, "5xx: SERVER is Error");
    assert_eq!(client.status_code(), STATUS_ERROR, "5xx: CLIENT is Error");
    assert_eq!(client.attr_int("http.response.status_code"), Some(503));
    assert_eq!(
        client.attr_str("error.type"),
        Some("503"),
        "semconv: the status code as error.type"
    );

    let (server, client) = span(2);
    assert_ne!(
        server.status_code(),
        STATUS_ERROR,
        "4xx: SERVER is not Error"
    );
    assert_eq!(client.status_code(), STATUS_ERROR, "4xx: CLIENT is Error");

    for (i, case) in [(3, "reset"), (4, "timeout")] {
        let (server, client) = span(i);
        assert_eq!(
            server.status_code(),
            STATUS_ERROR,
            "{case}: {}",
            server.summary()
        );
        assert_eq!(
            client.status_code(),
            STATUS_ERROR,
            "{case}: {}",
            client.summary()
        );
        let error_type = client.attr_str("error.type");
        assert!(
            error_type.is_some_and(|t| !t.is_empty()),
            "{case}: error.type on CLIENT"
        );
    }
    // A local reply has no cluster and no upstream host: the bare CEL list fails on the absent
    // attributes, the guarded one answers, and the spans still carry what is known.
    let (server, client) = span(5);
    assert_eq!(
        server.attr_int("http.response.status_code"),
        Some(i64::from(LOCAL_REPLY_STATUS)),
        "{}",
        server.summary()
    );
    assert_eq!(server.attr_str("envoy.upstream.cluster"), None);
    assert_eq!(client.attr_str("network.peer.address"), None);
    assert_eq!(server.attr_str("network.protocol.version"), Some("1.1"));
    let log = gw.envoy.log();
    assert!(
        !log.contains("stream-end CEL list unusable") && !log.contains("has no CEL"),
        "{log}"
    );
    let (_, timed_out) = span(4);
    assert!(
        // Envoy's timer runs on the monotonic clock and spans on the wall clock: allow 2 % skew.
        timed_out.duration() >= Duration::from_millis(392),
        "{}",
        timed_out.summary()
    );
}

#[test]
fn stream_info_on_error_keeps_envoys_facts_for_failing_requests_only() {
    let plugin = format!(
        r#"{{{FAST_BATCH},"span_kind":"server_and_client","attributes":{{"stream_info":"on_error"}}}}"#
    );
    let gw = gateway(&plugin, 1, Duration::from_millis(400));
    #[rustfmt::skip]
    let cases: &[(&str, &str, u16)] = &[
        ("ok",             "/items/1",    200),
        ("upstream 404",   "/status/404", 404),
        ("upstream 503",   "/status/503", 503),
        ("upstream reset", "/reset",      503),
    ];
    let started = now_nanos();
    let (spans, traces) = send_cases(&gw, cases, 200);

    // A successful request: the status from `:status`, the request's own facts, its timing from
    // hoptrace's clock, and none of the stream info.
    let (server, client) = server_and_client(&spans, &traces[0]);
    for span in [server, client] {
        let what = span.summary();
        assert_eq!(span.span.name, "GET", "no route name: {what}");
        assert_eq!(
            span.attr_int("http.response.status_code"),
            Some(200),
            "{what}"
        );
        assert_ne!(span.status_code(), STATUS_ERROR, "{what}");
        assert_eq!(span.attr_str("envoy.upstream.cluster"), None, "{what}");
        assert_eq!(span.attr_str("network.protocol.version"), None, "{what}");
        assert!(
            span.span.start_time_unix_nano >= started - 1_000_000_000,
            "{what}"
        );
        assert!(span.duration() > Duration::ZERO, "{what}");
    }
    assert_eq!(server.attr_str("client.address"), None);
    assert_eq!(client.attr_str("network.peer.address"), None);
    assert!(client
        .attr_str("url.full")
        .is_some_and(|u| u.contains("/items/1")));

    // Requests that fail carry everything, as with `always`.
    for (i, case) in [(1, "404"), (2, "503"), (3, "reset")] {
        let (server, client) = server_and_client(&spans, &traces[i]);
        let what = client.summary();
        assert_eq!(client.span.name, "GET gw_route", "{case}: {what}");
        assert_eq!(
            client.attr_str("envoy.upstream.cluster"),
            Some("gw_upstream"),
            "{case}: {what}"
        );
        assert_eq!(
            server.attr_str("network.protocol.version"),
            Some("1.1"),
            "{case}"
        );
        assert_eq!(client.status_code(), STATUS_ERROR, "{case}: {what}");
        assert!(
            client.attr_str("error.type").is_some_and(|t| !t.is_empty()),
            "{case}: {what}"
        );
    }
    let (_, reset) = server_and_client(&spans, &traces[3]);
    assert_ne!(
        reset.attr_str("error.type"),
        Some("503"),
        "a reset names its cause: {}",
        reset.summary()
    );
}

#[test]
fn sidecar_outbound_to_inbound_is_one_trace_with_client_to_server_parenting() {
    let receiver = Receiver::start().unwrap();
    let app_b = Upstream::start("app-b").unwrap();
    let inbound = EnvoyConfig::new().collector(receiver.port()).listener(
        Listener::inbound("inbound", app_b.port())
            .plugin(&format!(r#"{{"service_name":"svc-b",{FAST_BATCH}}}"#)),
    );
    let envoy_b = Envoy::start(&inbound).unwrap_or_else(|e| panic!("{e}"));
    let outbound = EnvoyConfig::new().collector(receiver.port()).listener(
        Listener::outbound("outbound", envoy_b.port("inbound"))
            .plugin(&format!(r#"{{"service_name":"svc-a",{FAST_BATCH}}}"#)),
    );
    let envoy_a = Envoy::start(&outbound).unwrap_or_else(|e| panic!("{e}"));

    let response = Request::get("/orders")
        .send(envoy_a.port("outbound"))
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-upstream"), Some("app-b"));
    let seen = traceparent::parse(app_b.last().unwrap().header("traceparent").unwrap()).unwrap();

    receiver.wait_for_spans(2, SPAN_WAIT);
    std::thread::sleep(Duration::from_millis(500));
    let spans = receiver
        .spans()
        .into_iter()
        .filter(|s| s.trace_id() == seen.trace_id)
        .collect::<Vec<_>>();
    let all: Vec<&ReceivedSpan> = spans.iter().collect();
    assert_eq!(
        spans.len(),
        2,
        "one CLIENT (outbound) + one SERVER (inbound): {:#?}",
        summaries(&all)
    );
    let client = spans
        .iter()
        .find(|s| s.kind() == KIND_CLIENT)
        .expect("CLIENT from outbound");
    let server = spans
        .iter()
        .find(|s| s.kind() == KIND_SERVER)
        .expect("SERVER from inbound");
    assert_eq!(client.resource_str("service.name"), Some("svc-a"));
    assert_eq!(server.resource_str("service.name"), Some("svc-b"));
    assert!(
        client.parent_id().is_empty(),
        "the outbound CLIENT span is the trace root here"
    );
    assert_eq!(
        server.parent_id(),
        client.span_id(),
        "CLIENT -> SERVER across the hop"
    );
    assert_eq!(
        seen.parent_id,
        server.span_id(),
        "app-b's parent is the inbound SERVER span"
    );
    assert!(server.span.start_time_unix_nano >= client.span.start_time_unix_nano);
    assert!(server.span.end_time_unix_nano <= client.span.end_time_unix_nano);
}

#[test]
fn stats_add_up_across_worker_vms() {
    // Two workers: three VMs each define the metrics; Envoy shows one sum per name.
    const N: usize = 20;
    let plugin = format!("{{{FAST_BATCH}}}");
    let gw = gateway(&plugin, 2, Duration::from_secs(5));
    for i in 0..N {
        let (trace_id, parent_id) = incoming(200 + i);
        assert_eq!(send_traced(&gw, "/count", &trace_id, &parent_id).0, 200);
    }
    let spans = gw.receiver.wait_for_spans(2 * N, SPAN_WAIT);
    assert_eq!(spans.len(), 2 * N);
    let acc = accounting::wait_for(&gw.envoy, Duration::from_secs(5), |a| {
        a.settled() && a.exported == 2 * N as u64
    })
    .unwrap();
    assert_eq!(acc.requests, N as u64, "{acc:?}");
    assert_eq!(acc.sampled, 2 * N as u64, "{acc:?}");
    assert_eq!(
        acc.exported,
        spans.len() as u64,
        "exported = what the receiver accepted: {acc:?}"
    );
    assert_eq!(acc.queued, 0, "{acc:?}");
    assert!(acc.balanced(), "{acc:?}");
    let ok_posts = gw.receiver.requests().iter().filter(|r| r.accepted).count() as u64;
    assert_eq!(
        acc.exports.get("ok").copied().unwrap_or(0),
        ok_posts,
        "{acc:?}"
    );
}

#[test]
fn collector_failing_then_healthy_ends_with_every_span_exported_or_dropped() {
    const N: usize = 10;
    let plugin = format!(
        r#"{{{FAST_BATCH},"retry":{{"initial_backoff_ms":100,"max_backoff_ms":400,"max_elapsed_ms":20000}}}}"#
    );
    let gw = gateway(&plugin, 1, Duration::from_secs(5));
    gw.receiver.script(
        1,
        Reply::Status {
            code: 503,
            retry_after: Some("1".into()),
        },
    );
    gw.receiver.script(2, Reply::status(503));
    for i in 0..N {
        let (trace_id, parent_id) = incoming(300 + i);
        assert_eq!(
            send_traced(&gw, "/retry", &trace_id, &parent_id).0,
            200,
            "requests never wait on export"
        );
    }
    let acc = accounting::wait_for(&gw.envoy, Duration::from_secs(30), |a| {
        a.sampled == 2 * N as u64 && a.settled()
    })
    .unwrap();
    assert!(
        acc.settled(),
        "every sampled span exported or dropped: {acc:?}"
    );
    assert_eq!(
        gw.receiver.script_remaining(),
        0,
        "the collector was asked through its bad phase"
    );
    let requests = gw.receiver.requests();
    let refused = requests
        .iter()
        .filter(|r| r.answered == Answered::Status(503))
        .count();
    assert_eq!(refused, 3);
    assert!(
        acc.exports.get("retried").copied().unwrap_or(0) >= 1,
        "{acc:?}"
    );
    // Retry-After: 1 is honoured: the next attempt comes at least ~1 s after the first refusal.
    let gap = requests[1]
        .received_at
        .duration_since(requests[0].received_at);
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After ignored: next try after {gap:?}"
    );
    let spans = gw.receiver.spans();
    assert!(
        duplicate_span_ids(&spans).is_empty(),
        "a retried batch is not delivered twice"
    );
    assert_eq!(acc.exported, spans.len() as u64, "{acc:?}");
    assert_eq!(acc.exported + acc.dropped_total(), 2 * N as u64, "{acc:?}");
}

#[test]
fn json_gzip_headers_and_partial_success() {
    const N: usize = 3;
    let plugin = format!(
        r#"{{{FAST_BATCH},"collector":{{"encoding":"json","compression":"gzip","headers":{{"authorization":"Bearer e2e-token"}}}}}}"#
    );
    let gw = gateway(&plugin, 1, Duration::from_secs(5));
    gw.receiver.script(
        1,
        Reply::PartialSuccess {
            rejected: 1,
            message: "one too old".into(),
        },
    );
    for i in 0..N {
        let (trace_id, parent_id) = incoming(400 + i);
        assert_eq!(send_traced(&gw, "/json", &trace_id, &parent_id).0, 200);
    }
    let spans = gw.receiver.wait_for_spans(2 * N, SPAN_WAIT);
    assert_eq!(spans.len(), 2 * N);
    let first = &gw.receiver.requests()[0];
    assert!(
        first.decoded.is_ok(),
        "OTLP/JSON decodes by the official mapping: {:?}",
        first.decoded
    );
    assert!(first
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(first.header("content-encoding"), Some("gzip"));
    assert_eq!(first.header("authorization"), Some("Bearer e2e-token"));
    for i in 0..N {
        let (trace_id, _) = incoming(400 + i);
        let (server, client) = server_and_client(&spans, &trace_id);
        assert_eq!(client.parent_id(), server.span_id());
    }
    let acc = accounting::wait_for(&gw.envoy, Duration::from_secs(5), |a| {
        a.settled() && a.sampled == 2 * N as u64
    })
    .unwrap();
    assert_eq!(
        acc.dropped("rejected"),
        1,
        "partial success counts its rejected spans: {acc:?}"
    );
    assert!(acc.settled(), "{acc:?}");
}
