//! Stream control from the guest: a request paused while a callout from the HTTP context is
//! outstanding, resumed from the callout response through `proxy_set_effective_context`; local
//! responses; body edits; shared data and queues; cancelled callouts of an ended stream.

use hoptrace_shim::{pairs, Action, CalloutResponse, Host, HostOptions};

use crate::common::guest::Guest;

fn auth_guest() -> Guest {
    let mut g = Guest::new();
    let headers = g.s(pairs::encode(&[
        (":method", "GET"),
        (":path", "/check"),
        (":authority", "auth"),
    ]));
    let (cluster, empty) = (g.s("auth"), g.s(""));
    let (key, value) = (g.s("x-auth"), g.s("ok"));
    let (denied, details) = (g.s("denied"), g.s("auth_failed"));
    let local_headers = g.s(pairs::encode(&[("www-authenticate", "Basic")]));
    let (prefix, suffix) = (g.s(">> "), g.s(" <<"));
    g.func(&format!(
        r#"
        (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
          (drop (call $proxy_http_call {cluster} {headers} {empty} (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 1040)))
          (i32.const 1))
        (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
          (drop (call $proxy_set_effective_context (local.get $ctx)))
          (if (i32.eq (local.get $bs) (i32.const 2))
            (then
              (drop (call $proxy_add_header_map_value (i32.const 0) {key} {value}))
              (drop (call $proxy_continue_stream (i32.const 0))))
            (else
              (drop (call $proxy_send_local_response (i32.const 403) {details} {denied} {local_headers} (i32.const -1))))))
        (func (export "proxy_on_response_body") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
          (drop (call $proxy_set_buffer_bytes (i32.const 1) (i32.const 0) (i32.const 0) {prefix}))
          (drop (call $proxy_set_buffer_bytes (i32.const 1) (i32.const -1) (i32.const 0) {suffix}))
          (i32.const 0))
        (func (export "proxy_on_done") (param $ctx i32) (result i32)
          (i32.const 0))"#
    ));
    g
}

fn loaded() -> Host {
    let options = HostOptions {
        clusters: vec!["auth".into()],
        ..Default::default()
    };
    Host::load_with(auth_guest().bytes(), "", options).unwrap()
}

#[test]
fn a_paused_request_resumes_from_its_callout_response() {
    let mut host = loaded();
    let mut req = host.request(crate::common::get("/", &[])).unwrap();
    assert_eq!(req.request_action(), Some(Action::Pause));
    let callouts = req.callouts();
    assert_eq!(callouts.len(), 1);
    assert_eq!(
        callouts[0].context_id,
        req.id(),
        "dispatched from the HTTP context"
    );
    assert_eq!(
        callouts[0].header("content-length"),
        None,
        "no body, no content-length"
    );
    req.host()
        .answer(callouts[0].id, CalloutResponse::new(200).body("ok"))
        .unwrap();
    let id = req.id();
    let mut req = host.stream(id).unwrap();
    assert_eq!(
        req.upstream_headers().get_str("x-auth"),
        Some("ok"),
        "paused headers stay writable"
    );
    req.respond_with_body(200, [("a", "b")], b"body").unwrap();
    let report = req.end().unwrap();
    assert!(report.local_response.is_none());
    assert!(host.logs().next().is_none());
}

#[test]
fn a_denied_request_gets_a_local_response() {
    let mut host = loaded();
    let id = host.request(crate::common::get("/", &[])).unwrap().id();
    let callout = host.callouts()[0].clone();
    host.answer(callout.id, CalloutResponse::new(403)).unwrap();
    let req = host.stream(id).unwrap();
    let local = req.local_response().unwrap();
    assert_eq!(
        (local.status, local.details.as_str(), local.body.as_slice()),
        (403, "auth_failed", &b"denied"[..])
    );
    assert_eq!(local.headers.get_str("www-authenticate"), Some("Basic"));
    assert_eq!(local.grpc_status, None);
}

#[test]
fn ending_a_stream_cancels_its_callouts() {
    let mut host = loaded();
    host.request(crate::common::get("/", &[]))
        .unwrap()
        .end()
        .unwrap();
    assert!(host.callouts().is_empty());
}

#[test]
fn body_edits_prepend_and_append() {
    let mut host = loaded();
    let id = host.request(crate::common::get("/", &[])).unwrap().id();
    let token = host.callouts()[0].id;
    host.answer(token, CalloutResponse::new(200).body("ok"))
        .unwrap();
    let mut req = host.stream(id).unwrap();
    req.respond_with_body(200, Vec::<(&str, &str)>::new(), b"body")
        .unwrap();
    assert_eq!(
        req.response_body_chunk(),
        b">> body <<",
        "what the downstream receives"
    );
}

#[test]
fn shared_data_and_queues() {
    let mut g = Guest::new();
    let (key, v1, v2) = (g.s("k"), g.s("v1"), g.s("v2"));
    let (queue, item, label) = (g.s("q"), g.s("item"), g.s("shared"));
    g.func(&format!(
        r#"
        (global $q (mut i32) (i32.const 0))
        (func (export "proxy_on_configure") (param i32 i32) (result i32)
          (drop (call $proxy_register_shared_queue {queue} (i32.const 1040)))
          (global.set $q (i32.load (i32.const 1040)))
          (i32.const 1))
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (call $line_start {label})
          (call $line_num (call $proxy_set_shared_data {key} {v1} (i32.const 0)))
          (call $line_num (call $proxy_get_shared_data {key} (i32.const 1024) (i32.const 1028) (i32.const 1044)))
          (call $line_num (i32.load (i32.const 1044)))
          (call $line_num (call $proxy_set_shared_data {key} {v2} (i32.const 7)))
          (call $line_num (call $proxy_set_shared_data {key} {v2} (i32.load (i32.const 1044))))
          (call $line_num (call $proxy_resolve_shared_queue (i32.const 0) (i32.const 0) {queue} (i32.const 1040)))
          (call $line_num (call $proxy_enqueue_shared_queue (global.get $q) {item}))
          (call $line_end)
          (i32.const 0))
        (func (export "proxy_on_queue_ready") (param $ctx i32) (param $queue i32)
          (call $line_start {label})
          (call $line_num (local.get $ctx))
          (call $line_num (call $proxy_dequeue_shared_queue (local.get $queue) (i32.const 1024) (i32.const 1028)))
          (call $line_bytes (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))
          (call $line_num (call $proxy_dequeue_shared_queue (local.get $queue) (i32.const 1024) (i32.const 1028)))
          (call $line_end))"#
    ));
    let mut host = Host::load(g.bytes(), "").unwrap();
    host.request(crate::common::get("/", &[])).unwrap();
    let lines: Vec<_> = host.logs().map(|l| l.message.clone()).collect();
    // set OK, get OK with cas 1, stale cas CAS_MISMATCH (8), right cas OK, resolve OK, enqueue OK;
    // then the root context (1) is told the queue is ready: item, then EMPTY (7).
    assert_eq!(lines, ["shared 0 0 1 8 0 0 0", "shared 1 0 item 7"]);
}
