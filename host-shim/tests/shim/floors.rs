//! The two benchmark floors through the shim: they load, behave, and cost the host calls they
//! are meant to cost (floor-noop 0, floor-rewrite 2 per request).

use hoptrace_shim::{Action, Host};

use crate::common;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn floor_noop_costs_no_host_call() {
    let mut host = Host::load(common::floor_noop(), "").unwrap();
    let mut req = host
        .request(common::get("/", &[("traceparent", TRACEPARENT)]))
        .unwrap();
    assert_eq!(req.request_action(), Some(Action::Continue));
    assert_eq!(
        req.upstream_headers().get_str("traceparent"),
        Some(TRACEPARENT)
    );
    req.respond(200, [("content-length", "0")]).unwrap();
    let report = req.end().unwrap();
    assert_eq!(report.host_calls_in("proxy_on_request_headers"), 0);
    assert_eq!(report.total_host_calls(), 0, "{:?}", report.host_calls);
}

#[test]
fn floor_rewrite_keeps_the_trace_id_with_a_new_span_id_in_two_host_calls() {
    let mut host = Host::load(common::floor_rewrite(), "").unwrap();
    let req = host
        .request(common::get("/", &[("traceparent", TRACEPARENT)]))
        .unwrap();
    let sent = req
        .upstream_headers()
        .get_str("traceparent")
        .unwrap()
        .to_string();
    assert_eq!(req.upstream_headers().get_all("traceparent").len(), 1);
    assert_eq!(sent.len(), 55);
    assert_eq!(&sent[..36], &TRACEPARENT[..36], "same version and trace id");
    assert_ne!(&sent[36..52], &TRACEPARENT[36..52], "a new span id");
    let report = req.end().unwrap();
    assert_eq!(report.host_calls_in("proxy_on_request_headers"), 2);
    assert_eq!(
        host.host_calls().of_function("proxy_get_header_map_value"),
        1
    );
    assert_eq!(
        host.host_calls()
            .of_function("proxy_replace_header_map_value"),
        1
    );
}

#[test]
fn floor_rewrite_starts_a_trace_when_there_is_none_or_it_is_invalid() {
    let mut host = Host::load(common::floor_rewrite(), "").unwrap();
    for extra in [&[][..], &[("traceparent", "garbage")][..]] {
        let req = host.request(common::get("/", extra)).unwrap();
        let sent = req
            .upstream_headers()
            .get_str("traceparent")
            .unwrap()
            .to_string();
        assert!(
            sent.starts_with("00-") && sent.ends_with("-01") && sent.len() == 55,
            "{sent}"
        );
        req.end().unwrap();
    }
}
