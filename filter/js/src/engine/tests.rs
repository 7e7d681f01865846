#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

const T0: u64 = 1_700_000_000_000_000_000;

fn engine(config: &str) -> Engine {
    Engine::new(config, [7; 32], "unknown_service:test").unwrap()
}

#[test]
fn header_text_round_trip() {
    let lines = parse_lines("traceparent\t00-a-b-01\ntracestate\tx=1\ntracestate\ty=2\nempty\n");
    assert_eq!(
        lines,
        vec![
            ("traceparent", &b"00-a-b-01"[..]),
            ("tracestate", b"x=1"),
            ("tracestate", b"y=2"),
            ("empty", b""),
        ]
    );
    assert!(parse_lines("").is_empty());
}

#[test]
fn an_unsampled_hop_gives_edits_and_nothing_to_end() {
    let mut e = engine(r#"{"sampler":"always_off"}"#);
    let (edits, hop) = e.start("tracestate\tot=th:0\n", HopKind::Server, "", "", T0);
    assert!(hop.is_none());
    let lines: Vec<&str> = edits.lines().collect();
    assert_eq!(lines.len(), 2, "{edits}");
    assert!(lines[0].starts_with("traceparent\t00-") && lines[0].ends_with("-02"));
    assert_eq!(
        lines[1], "tracestate",
        "the invalid context's tracestate is removed"
    );
}

#[test]
fn a_sampled_hop_is_exported_through_fetch_headers() {
    let mut e = engine(
        r#"{"collector":{"endpoint":"http://127.0.0.1:9/v1/traces","headers":{"authorization":"Bearer x"}}}"#,
    );
    assert_eq!(e.endpoint(), "http://127.0.0.1:9/v1/traces");
    let headers = ":method\tGET\n:path\t/a?b=c\n:authority\tapi:8080\n";
    let (edits, hop) = e.start(
        headers,
        HopKind::ServerAndClient,
        "1.1",
        "10.0.0.1:5000",
        T0,
    );
    assert!(edits.starts_with("traceparent\t00-"));
    let end = HopEnd {
        status: 503,
        upstream_start_ns: Some(T0 + 1_000),
        first_byte_ns: Some(T0 + 5_000),
        end_ns: T0 + 9_000,
        ..HopEnd::default()
    };
    assert_eq!(e.end(hop.unwrap(), &end), 2, "SERVER and CLIENT");
    assert_eq!(
        e.poll(T0 + 10_000, false),
        0,
        "the batch waits for its delay"
    );
    assert_eq!(e.poll(T0 + 10_000, true), 1);
    let req = e.next_export().unwrap();
    assert_eq!(req.span_count, 2);
    assert_eq!(
        fetch_headers(&req),
        "content-type\tapplication/x-protobuf\nauthorization\tBearer x\n"
    );
    assert!(e.next_export().is_none());
    e.on_response(req.id, ExportOutcome::status(200), T0 + 20_000);
    let metrics: serde_json::Value = serde_json::from_str(&e.metrics_json()).unwrap();
    assert_eq!(metrics["hoptrace.requests"], 1);
    assert_eq!(metrics["hoptrace.spans.exported"], 2);
    assert_eq!(metrics["hoptrace.queue.spans"], 0);
}

#[test]
fn kinds_and_errors_from_their_codes() {
    assert_eq!(HopKind::from_code(0), HopKind::ServerAndClient);
    assert_eq!(HopKind::from_code(1), HopKind::Server);
    assert_eq!(HopKind::from_code(2), HopKind::Client);
    assert_eq!(HopError::from_code(0), HopError::None);
    assert_eq!(HopError::from_code(1), HopError::Timeout);
    assert_eq!(HopError::from_code(2), HopError::ConnectionFailure);
    assert_eq!(HopError::from_code(3), HopError::Other);
}

#[test]
fn milliseconds_to_nanoseconds() {
    assert_eq!(ms_to_ns(1.5), 1_500_000);
    assert_eq!(ms_to_ns(f64::NAN), 0);
    assert_eq!(ms_to_ns(-3.0), 0);
}
