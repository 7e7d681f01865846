//! The harness itself against a plain Envoy without the filter: Envoy starts and stops, the echo
//! upstream records exactly what Envoy forwarded, its behaviours (status, slow, reset) come back through
//! Envoy as expected, and the receiver decodes OTLP built with the official types and follows its
//! script. If these fail, the filter tests cannot be trusted.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use hoptrace_e2e::otlp::{self, KIND_CLIENT};
use hoptrace_e2e::receiver::Answered;
use hoptrace_e2e::{client, Envoy, EnvoyConfig, Listener, Receiver, Reply, Request, Upstream};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn export(spans: usize) -> ExportTraceServiceRequest {
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: vec![0x11; 16],
            span_id: vec![(i + 1) as u8; 8],
            name: format!("span {i}"),
            kind: KIND_CLIENT,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn plain_envoy_forwards_every_header_line_and_upstream_behaviours_show() {
    let upstream = Upstream::start("echo").unwrap();
    let config = EnvoyConfig::new().listener(
        Listener::gateway("plain", upstream.port()).route_timeout(Duration::from_millis(500)),
    );
    let envoy = Envoy::start(&config).unwrap();
    let port = envoy.port("plain");

    let response = Request::get("/hello")
        .header("traceparent", "first")
        .header("x-odd", "a")
        .header("traceparent", "second")
        .send(port)
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-upstream"), Some("echo"));
    let seen = upstream.last().unwrap();
    assert_eq!(seen.path(), "/hello");
    assert_eq!(
        hoptrace_e2e::http1::header_all(&seen.head.headers, "traceparent"),
        ["first", "second"],
        "Envoy keeps repeated lines as separate lines"
    );
    let raw = String::from_utf8_lossy(&seen.head.raw);
    assert!(raw.contains("traceparent: first\r\n"), "{raw}");

    assert_eq!(client::get(port, "/status/503").unwrap().status, 503);
    assert_eq!(client::get(port, "/status/404").unwrap().status, 404);
    let reset = client::get(port, "/reset").unwrap();
    assert_eq!(reset.status, 503, "a reset upstream is a local 503");
    assert!(reset.text().contains("reset"), "{}", reset.text());
    let started = Instant::now();
    let slow = client::get(port, "/slow/2000").unwrap();
    assert_eq!(slow.status, 504, "route timeout 500 ms: {}", slow.text());
    assert!(started.elapsed() < Duration::from_millis(1500));
    let ok_slow = client::get(port, "/slow/100").unwrap();
    assert_eq!(ok_slow.status, 200);
}

#[test]
fn upstream_call_copies_trace_headers_onward() {
    let second = Upstream::start("second").unwrap();
    let first = Upstream::start("first").unwrap();
    let target = format!("/call?to={}&path=/leaf", second.port());
    let response = Request::get(&target)
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("x-private", "not copied")
        .send(first.port())
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "first -> second: /leaf\n");
    let leaf = second.last().unwrap();
    assert_eq!(
        leaf.header("traceparent"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert_eq!(leaf.header("x-private"), None);
}

#[test]
fn receiver_decodes_protobuf_json_and_gzip_and_follows_its_script() {
    let receiver = Receiver::start().unwrap();
    receiver.script(
        1,
        Reply::Status {
            code: 503,
            retry_after: Some("1".into()),
        },
    );
    receiver.script(
        1,
        Reply::PartialSuccess {
            rejected: 2,
            message: "too old".into(),
        },
    );
    let body = export(3).encode_to_vec();
    let post = |body: &[u8], ct: &str| {
        Request::new("POST", "/v1/traces")
            .header("content-type", ct)
            .body(body.to_vec())
            .send(receiver.port())
            .unwrap()
    };
    let refused = post(&body, "application/x-protobuf");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    let partial = post(&body, "application/x-protobuf");
    assert_eq!(partial.status, 200);
    let decoded =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            partial.body.as_slice(),
        )
        .unwrap();
    assert_eq!(decoded.partial_success.unwrap().rejected_spans, 2);

    let json = otlp::to_json(&export(2)).unwrap();
    let json_ok = post(json.as_bytes(), "application/json");
    assert_eq!(json_ok.status, 200);
    assert_eq!(json_ok.header("content-type"), Some("application/json"));

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, json.as_bytes()).unwrap();
    let gzipped = Request::new("POST", "/v1/traces")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send(receiver.port())
        .unwrap();
    assert_eq!(gzipped.status, 200, "{}", gzipped.text());

    let bad = post(b"{not json", "application/json");
    assert_eq!(bad.status, 400);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0].answered, Answered::Status(503));
    assert!(!requests[0].accepted);
    assert_eq!(requests[3].header("content-encoding"), Some("gzip"));
    assert_eq!(requests[3].span_count, 2);
    assert!(requests[4].decoded.is_err());
    // 503'd spans are not counted as received: the sender will send them again.
    let spans = receiver.wait_for_spans(7, Duration::from_secs(1));
    assert_eq!(spans.len(), 7);
    assert_eq!(spans[0].span_id(), "0101010101010101");
    assert_eq!(spans[0].trace_id(), "11111111111111111111111111111111");
    assert_eq!(receiver.script_remaining(), 0);
}

#[test]
fn receiver_through_envoy_collector_cluster() {
    // The path the filter's callout takes: Envoy's otlp_collector cluster to the receiver.
    let receiver = Receiver::start().unwrap();
    receiver.script(1, Reply::Close);
    // Route the listener at the receiver too, so a plain request reaches it through Envoy.
    let config = EnvoyConfig::new()
        .listener(Listener::gateway("to_collector", receiver.port()))
        .collector(receiver.port());
    let envoy = Envoy::start(&config).unwrap();
    let body = export(4).encode_to_vec();
    let send = || {
        Request::new("POST", "/v1/traces")
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send(envoy.port("to_collector"))
            .unwrap()
    };
    assert_eq!(send().status, 503, "receiver closed without answering");
    assert_eq!(send().status, 200);
    let spans = receiver.wait_for_spans(4, Duration::from_secs(5));
    assert_eq!(spans.len(), 4);
    let requests = receiver.requests();
    assert_eq!(requests[0].answered, Answered::Closed);
    assert_eq!(requests[1].span_count, 4);
}

#[test]
fn otlp_receiver_binary_writes_otlp_json_lines_and_a_summary() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let dir = hoptrace_e2e::tempdir::TempDir::new("receiver-bin").unwrap();
    let out = dir.path().join("spans.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_otlp-receiver"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--until-stdin-eof",
            "--max-seconds",
            "30",
        ])
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let port: u16 = first.trim().rsplit(':').next().unwrap().parse().unwrap();
    let response = Request::new("POST", "/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(export(3).encode_to_vec())
        .send(port)
        .unwrap();
    assert_eq!(response.status, 200);
    // Let the binary's 100 ms poll write the line before stdin closes.
    std::thread::sleep(Duration::from_millis(300));
    drop(child.stdin.take());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.contains("received 3 spans"), "{rest}");
    assert!(rest.contains("1 requests, 3 spans, 1 traces"), "{rest}");
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 1);
    let back =
        otlp::decode_request(lines.trim().as_bytes(), Some("application/json"), None).unwrap();
    assert_eq!(back, export(3));
}
