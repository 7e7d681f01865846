//! The hop's ids where people look, in a real Envoy: the access-log value Envoy prints with
//! `%FILTER_STATE(wasm.hoptrace:PLAIN)%` matches the `traceparent` the upstream received and the
//! exported spans, sampled or not; the gateway's response carries the W3C `server-timing` trace
//! metric and the trace-id header, after an upstream's own `server-timing` lines kept as they
//! came and instead of its own trace-id header; a sidecar's outbound listener adds neither.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hoptrace_e2e::otlp::{KIND_CLIENT, KIND_SERVER};
use hoptrace_e2e::tempdir::TempDir;
use hoptrace_e2e::traceparent::{self, TraceParent};
use hoptrace_e2e::upstream::OWN_TRACE_HEADERS;
use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Receiver, Request, Upstream};

/// The access-log format the README and the configs in `envoy/` show.
const FORMAT: &str =
    "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %FILTER_STATE(wasm.hoptrace:PLAIN)%\n";
const SPAN_WAIT: Duration = Duration::from_secs(15);
const EXPOSE: &str = r#""expose":{"server_timing":true,"trace_id_header":"X-Trace-Id","access_log":true},"batch":{"schedule_delay_ms":200}"#;

struct Proxy {
    receiver: Receiver,
    upstream: Upstream,
    envoy: Envoy,
    dir: TempDir,
}

impl Proxy {
    fn log_path(&self, listener: &str) -> PathBuf {
        self.dir.path().join(format!("{listener}.log"))
    }

    /// The access-log line of the request to `path` on `listener`, once Envoy has flushed it.
    fn log_line(&self, listener: &str, path: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(self.log_path(listener)).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.split(' ').nth(1) == Some(path)) {
                return line.to_string();
            }
            if Instant::now() > deadline {
                panic!(
                    "no access-log line for {path} in {listener}: {text:?}\n{}",
                    self.envoy.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `path` to `listener`; the response and the context the upstream received.
    fn send(&self, listener: &str, path: &str) -> (hoptrace_e2e::client::Response, TraceParent) {
        self.upstream.clear();
        let response = Request::get(path).send(self.envoy.port(listener)).unwrap();
        let received = self.upstream.last().unwrap();
        let tp = traceparent::parse(received.header("traceparent").unwrap()).unwrap();
        (response, tp)
    }
}

/// A gateway that samples everything, one that samples nothing (keeping nothing), and an outbound
/// sidecar listener, each with its access log.
fn proxy() -> Proxy {
    let receiver = Receiver::start().unwrap();
    let upstream = Upstream::start("echo").unwrap();
    let dir = TempDir::new("expose").unwrap();
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let config = EnvoyConfig::new()
        .collector(receiver.port())
        .listener(
            Listener::gateway("gw", upstream.port())
                .plugin(&format!(
                    r#"{{"sampler":"always_on","attributes":{{"request_id":true}},{EXPOSE}}}"#
                ))
                .access_log(&log("gw"), FORMAT),
        )
        .listener(
            Listener::gateway("gw_off", upstream.port())
                .plugin(&format!(
                    r#"{{"sampler":"always_off","keep":{{"errors":false}},{EXPOSE}}}"#
                ))
                .access_log(&log("gw_off"), FORMAT),
        )
        .listener(
            // The access log alone, span_kind auto: a recording hop's SERVER span is named at
            // the stream's end.
            Listener::gateway("gw_log", upstream.port())
                .plugin(r#"{"sampler":"parentbased_always_off","expose":{"access_log":true},"batch":{"schedule_delay_ms":200}}"#)
                .access_log(&log("gw_log"), FORMAT),
        )
        .listener(
            Listener::outbound("out", upstream.port())
                .plugin(&format!(r#"{{"sampler":"always_on",{EXPOSE}}}"#))
                .access_log(&log("out"), FORMAT),
        );
    let envoy = Envoy::start(&config).unwrap_or_else(|e| panic!("{e}"));
    Proxy {
        receiver,
        upstream,
        envoy,
        dir,
    }
}

/// The `key=value` fields of hoptrace's part of a log line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn access_log_lines_name_the_trace_the_upstream_and_the_collector_saw() {
    let p = proxy();
    // Sampled: the ids match the upstream's traceparent and the exported spans.
    let (response, tp) = p.send("gw", "/sampled");
    assert_eq!(response.status, 200);
    let line = p.log_line("gw", "/sampled");
    assert_eq!(field(&line, "trace_id"), tp.trace_id, "{line}");
    assert_eq!(field(&line, "span_id"), tp.parent_id, "{line}");
    assert_eq!(field(&line, "recorded"), "1", "{line}");
    let server_span_id = field(&line, "server_span_id");
    assert!(is_hex(server_span_id, 16), "{line}");
    let spans = p.receiver.wait_for_spans(2, SPAN_WAIT);
    let of = |kind| {
        spans
            .iter()
            .find(|s| s.trace_id() == tp.trace_id && s.kind() == kind)
            .unwrap_or_else(|| panic!("no span of kind {kind}"))
    };
    assert_eq!(of(KIND_CLIENT).span_id(), tp.parent_id);
    assert_eq!(of(KIND_SERVER).span_id(), server_span_id);
    assert_eq!(of(KIND_CLIENT).parent_id(), server_span_id);
    // Envoy's request id, as the upstream received it, joins the spans with request-id logs.
    let request_id = p
        .upstream
        .last()
        .unwrap()
        .header("x-request-id")
        .unwrap()
        .to_string();
    assert!(!request_id.is_empty());
    for kind in [KIND_SERVER, KIND_CLIENT] {
        assert_eq!(
            of(kind).attr_str("http.request.header.x-request-id"),
            Some(request_id.as_str())
        );
    }

    // Unsampled: the same ids, recorded 0, no SERVER span to look up, nothing exported for it.
    let (_, tp) = p.send("gw_off", "/unsampled");
    assert!(!tp.sampled());
    let line = p.log_line("gw_off", "/unsampled");
    assert_eq!(field(&line, "trace_id"), tp.trace_id, "{line}");
    assert_eq!(field(&line, "span_id"), tp.parent_id, "{line}");
    assert_eq!(field(&line, "recorded"), "0", "{line}");
    assert_eq!(field(&line, "server_span_id"), "-", "{line}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(p
        .receiver
        .spans()
        .iter()
        .all(|s| s.trace_id() != tp.trace_id));

    // The outbound listener has no SERVER span.
    let (_, tp) = p.send("out", "/outbound");
    let line = p.log_line("out", "/outbound");
    assert_eq!(field(&line, "trace_id"), tp.trace_id, "{line}");
    assert_eq!(field(&line, "span_id"), tp.parent_id, "{line}");
    assert_eq!(field(&line, "server_span_id"), "-", "{line}");
}

/// The SERVER span of `trace_id`, once exported.
fn server_span(p: &Proxy, trace_id: &str) -> String {
    let deadline = Instant::now() + SPAN_WAIT;
    loop {
        if let Some(s) = p
            .receiver
            .spans()
            .iter()
            .find(|s| s.trace_id() == trace_id && s.kind() == KIND_SERVER)
        {
            return s.span_id();
        }
        assert!(Instant::now() < deadline, "no SERVER span of {trace_id}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `line` names the trace the upstream received, as recorded, with its exported SERVER span.
fn assert_names_recorded_server_span(p: &Proxy, line: &str, tp: &TraceParent) {
    assert_eq!(field(line, "trace_id"), tp.trace_id, "{line}");
    assert_eq!(field(line, "span_id"), tp.parent_id, "{line}");
    assert_eq!(field(line, "recorded"), "1", "{line}");
    assert_eq!(
        field(line, "server_span_id"),
        server_span(p, &tp.trace_id),
        "{line}"
    );
}

#[test]
fn with_span_kind_auto_the_line_names_the_server_span_of_sampled_and_kept_requests() {
    let p = proxy();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    p.upstream.clear();
    Request::get("/sampled-parent")
        .header("traceparent", parent)
        .send(p.envoy.port("gw_log"))
        .unwrap();
    let tp = traceparent::parse(p.upstream.last().unwrap().header("traceparent").unwrap()).unwrap();
    let line = p.log_line("gw_log", "/sampled-parent");
    assert_names_recorded_server_span(&p, &line, &tp);

    // Unsampled at the head, kept for its 503: the line says so, with the kept SERVER span.
    let (response, tp) = p.send("gw_log", "/status/503");
    assert_eq!(response.status, 503);
    assert!(!tp.sampled());
    let line = p.log_line("gw_log", "/status/503");
    assert_names_recorded_server_span(&p, &line, &tp);

    // Unsampled and fine: nothing recorded, nothing named.
    let (_, tp) = p.send("gw_log", "/fine");
    let line = p.log_line("gw_log", "/fine");
    assert_eq!(field(&line, "trace_id"), tp.trace_id, "{line}");
    assert_eq!(field(&line, "recorded"), "0", "{line}");
    assert_eq!(field(&line, "server_span_id"), "-", "{line}");
}

#[test]
fn the_gateway_answers_with_its_trace_and_the_outbound_sidecar_does_not() {
    let p = proxy();
    for (listener, sampled) in [("gw", true), ("gw_off", false)] {
        let (response, tp) = p.send(listener, "/answer");
        let timing = response.header_all("server-timing");
        assert_eq!(timing.len(), 1, "{listener}: {timing:?}");
        let desc = timing[0].strip_prefix("trace;desc=").unwrap();
        let theirs = traceparent::parse(desc).unwrap();
        assert_eq!(theirs.trace_id, tp.trace_id, "{listener}");
        assert_ne!(
            theirs.parent_id, tp.parent_id,
            "{listener}: the SERVER span, not the CLIENT"
        );
        assert_eq!(theirs.sampled(), sampled, "{listener}");
        assert_eq!(
            theirs.random(),
            tp.random(),
            "{listener}: the random bit as propagated"
        );
        let line = p.log_line(listener, "/answer");
        let named = if sampled {
            theirs.parent_id.as_str()
        } else {
            "-"
        };
        assert_eq!(field(&line, "server_span_id"), named, "{line}");
        assert_eq!(
            response.header_all("x-trace-id"),
            [tp.trace_id.as_str()],
            "{listener}"
        );
    }
    let (response, _) = p.send("out", "/answer");
    assert!(response.header("server-timing").is_none());
    assert!(response.header("x-trace-id").is_none());
}

#[test]
fn an_upstreams_own_server_timing_is_kept_and_its_trace_id_header_replaced() {
    let p = proxy();
    let (response, tp) = p.send("gw", "/own-trace-headers");
    let theirs: Vec<&str> = OWN_TRACE_HEADERS
        .iter()
        .filter(|(k, _)| *k == "server-timing")
        .map(|(_, v)| *v)
        .collect();
    let timing = response.header_all("server-timing");
    assert_eq!(timing.len(), theirs.len() + 1, "{timing:?}");
    assert_eq!(
        timing[..theirs.len()],
        theirs[..],
        "theirs first, byte for byte"
    );
    let ours = timing[theirs.len()].strip_prefix("trace;desc=").unwrap();
    assert_eq!(traceparent::parse(ours).unwrap().trace_id, tp.trace_id);
    assert_eq!(response.header_all("x-trace-id"), [tp.trace_id.as_str()]);
}
