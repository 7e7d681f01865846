//! The hop's ids where people look, through hoptrace.wasm: the access-log value the filter writes
//! with `proxy_set_property` (Envoy's filter state `wasm.hoptrace`) names the trace and spans the
//! upstream and the collector saw; the hop that answers the client adds the W3C `server-timing`
//! trace metric after the upstream's own lines and replaces its trace-id header; an outbound
//! listener adds neither.

use hoptrace_shim::Host;

use crate::common;
use crate::hoptrace_support::{hex, load, spans, tick};

const EXPOSE: &str =
    r#""expose":{"server_timing":true,"trace_id_header":"x-trace-id","access_log":true}"#;
/// What a service answers with: its own server-timing lines (one hostile) and trace-id header.
const THEIRS: [(&str, &str); 3] = [
    ("server-timing", "db;dur=53"),
    ("server-timing", "trace;desc=\"unterminated"),
    ("x-trace-id", "theirs"),
];

/// One request answered with [`THEIRS`]: the traceparent sent upstream, the response headers
/// the client got, and the access-log value at the stream's end.
fn request(host: &mut Host, extra: &[(&str, &str)]) -> (String, hoptrace_shim::HeaderMap, String) {
    let mut req = host.request(common::get("/checkout", extra)).unwrap();
    let sent = req
        .upstream_headers()
        .get_str("traceparent")
        .unwrap()
        .to_owned();
    let mut answer = vec![("content-length", "0")];
    answer.extend(THEIRS);
    req.respond(200, answer).unwrap();
    let report = req.end().unwrap();
    let value = report
        .property("hoptrace")
        .map(|v| String::from_utf8(v.to_vec()).unwrap());
    (
        sent,
        report.response_headers.unwrap(),
        value.unwrap_or_default(),
    )
}

fn server_span_of(host: &mut Host, trace: &str) -> String {
    for _ in 0..100 {
        tick(host, "export");
        if let Some(callout) = host.callouts().first().cloned() {
            let spans = spans(&callout);
            let server = spans
                .iter()
                .find(|s| s.kind == 2 && hex(&s.trace_id) == trace)
                .unwrap();
            return hex(&server.span_id);
        }
    }
    panic!("no export");
}

#[test]
fn a_gateway_shows_its_trace_in_the_access_log_and_the_response() {
    let mut host = load(&format!(r#"{{"sampler":"always_on",{EXPOSE}}}"#));
    let (sent, response, log) = request(&mut host, &[]);
    let (trace, span) = (&sent[3..35], &sent[36..52]);
    let server = server_span_of(&mut host, trace);
    assert_eq!(
        log,
        format!("trace_id={trace} span_id={span} server_span_id={server} recorded=1")
    );
    let timing: Vec<&[u8]> = response.get_all("server-timing");
    let ours = format!("trace;desc=00-{trace}-{server}-03");
    assert_eq!(
        timing,
        [
            b"db;dur=53".as_slice(),
            b"trace;desc=\"unterminated",
            ours.as_bytes()
        ],
        "theirs untouched, ours after"
    );
    assert_eq!(response.get_all("x-trace-id"), [trace.as_bytes()]);
}

#[test]
fn the_access_log_costs_an_unsampled_request_one_property_write_and_is_off_by_default() {
    // (config, property writes, the access-log value written)
    for (config, writes, written) in [
        (
            r#"{"sampler":"always_off","keep":{"errors":false}}"#,
            None,
            false,
        ),
        (
            r#"{"sampler":"always_off","keep":{"errors":false},"expose":{"access_log":true}}"#,
            Some(&1),
            true,
        ),
    ] {
        let mut host = load(config);
        host.reset_host_calls();
        let (sent, response, log) = request(&mut host, &[]);
        let (trace, span) = (&sent[3..35], &sent[36..52]);
        let want = if written {
            format!("trace_id={trace} span_id={span} server_span_id=- recorded=0")
        } else {
            String::new()
        };
        assert_eq!(log, want, "{config}");
        assert_eq!(
            response.get_all("server-timing").len(),
            2,
            "nothing added: {config}"
        );
        assert_eq!(response.get_str("x-trace-id"), Some("theirs"), "{config}");
        let calls = host.host_calls().by_function.clone();
        assert_eq!(
            calls.get("proxy_set_property"),
            writes,
            "{config}: {calls:?}"
        );
        assert_eq!(calls.get("proxy_get_property"), None, "{config}: {calls:?}");
    }
}

#[test]
fn an_outbound_listener_answers_no_client() {
    let mut host = load(&format!(r#"{{"sampler":"always_on",{EXPOSE}}}"#));
    host.set_property_i64("xds.listener_direction", 2);
    let (sent, response, log) = request(&mut host, &[]);
    let (trace, span) = (&sent[3..35], &sent[36..52]);
    assert_eq!(
        log,
        format!("trace_id={trace} span_id={span} server_span_id=- recorded=1")
    );
    assert_eq!(response.get_all("server-timing").len(), 2);
    assert_eq!(response.get_str("x-trace-id"), Some("theirs"));
}

#[test]
fn a_malformed_context_still_gets_a_trace_shown_and_never_traps() {
    let mut host = load(&format!(
        r#"{{"sampler":"always_off","keep":{{"errors":false}},{EXPOSE}}}"#
    ));
    let long = "x".repeat(16 * 1024);
    for bad in [
        "00-zz-\u{1}-01",
        long.as_str(),
        "00-00000000000000000000000000000000-0000000000000000-01",
    ] {
        let (sent, response, log) = request(&mut host, &[("traceparent", bad)]);
        let trace = &sent[3..35];
        assert!(log.starts_with(&format!("trace_id={trace} ")), "{log}");
        assert_eq!(response.get_all("x-trace-id"), [trace.as_bytes()]);
        let timing = response.get_all("server-timing");
        let ours = std::str::from_utf8(timing[2]).unwrap();
        assert!(
            ours.starts_with(&format!("trace;desc=00-{trace}-")) && ours.ends_with("-02"),
            "{ours}"
        );
    }
}
