//! Envoy's callback order for the root context and for HTTP contexts, configuration buffers,
//! and a plugin that rejects its configuration.

use std::time::Duration;

use hoptrace_shim::{Action, Error, HeaderMap, Host, HostOptions};

use crate::common::guest::{recorder, Guest};

fn log_lines(host: &Host) -> Vec<String> {
    host.logs().map(|l| l.message.clone()).collect()
}

#[test]
fn root_then_http_context_in_envoys_order() {
    let mut host = Host::load(recorder(0).bytes(), "{}").unwrap();
    assert_eq!(
        log_lines(&host),
        ["context_create 1 0", "vm_start 1 0", "configure 1 2"]
    );
    host.clear_logs();

    let mut req = host
        .request_streaming([
            (":method", "POST"),
            (":path", "/"),
            (":authority", "a"),
            ("x", "1"),
            ("x", "2"),
        ])
        .unwrap();
    let id = req.id();
    req.request_body(b"hello", false).unwrap();
    req.request_body(b"!", true).unwrap();
    req.respond_with_body(200, [("content-type", "text/plain")], b"world")
        .unwrap();
    let report = req.end().unwrap();
    assert_eq!(
        log_lines(&host),
        [
            format!("context_create {id} 1"),
            format!("request_headers {id} 5 0"),
            format!("request_body {id} 5 0"),
            format!("request_body {id} 1 1"),
            format!("response_headers {id} 2 0"),
            format!("response_body {id} 5 1"),
            format!("log {id}"),
            format!("done {id}"),
            format!("delete {id}"),
        ]
    );
    let callbacks: Vec<_> = report.host_calls.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        callbacks,
        [
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_request_body",
            "proxy_on_request_body",
            "proxy_on_response_headers",
            "proxy_on_response_body",
            "proxy_on_log",
            "proxy_on_done",
            "proxy_on_delete",
        ]
    );
    // Each recorder callback makes exactly one host call: its proxy_log.
    assert!(
        report.host_calls.iter().all(|(_, n)| *n == 1),
        "{:?}",
        report.host_calls
    );
    assert_eq!(host.live_streams(), 0);
}

#[test]
fn trailers_and_interleaved_requests() {
    let mut host = Host::load(recorder(0).bytes(), "").unwrap();
    let a = host
        .request_streaming(crate::common::get("/a", &[]))
        .unwrap()
        .id();
    let b = host.request(crate::common::get("/b", &[])).unwrap().id();
    host.clear_logs();
    let mut req = host.stream(a).unwrap();
    req.request_trailers(HeaderMap::from_pairs([("grpc-status", "0")]))
        .unwrap();
    req.respond(204, Vec::<(&str, &str)>::new()).unwrap();
    req.response_trailers(HeaderMap::from_pairs([("t", "1")]))
        .unwrap();
    req.end().unwrap();
    host.stream(b).unwrap().end().unwrap();
    assert_eq!(
        log_lines(&host),
        [
            format!("request_trailers {a} 1"),
            format!("response_headers {a} 1 1"),
            format!("response_trailers {a} 1"),
            format!("log {a}"),
            format!("done {a}"),
            format!("delete {a}"),
            format!("log {b}"),
            format!("done {b}"),
            format!("delete {b}"),
        ]
    );
    assert!(matches!(host.stream(a), Err(Error::UnknownStream(_))));
}

#[test]
fn a_paused_request_is_recorded() {
    let mut host = Host::load(recorder(1).bytes(), "").unwrap();
    let req = host.request(crate::common::get("/", &[])).unwrap();
    assert_eq!(req.request_action(), Some(Action::Pause));
}

/// A guest that logs its plugin and VM configuration and rejects a configuration that is not `ok`.
fn config_checker() -> Guest {
    let mut g = Guest::new();
    let bad = g.s("bad config: field `x` is wrong");
    let plugin = g.s("plugin");
    let vm = g.s("vm");
    g.func(&format!(
        r#"
        (func $show (param $label_p i32) (param $label_l i32) (param $buffer i32) (param $size i32)
          (local $status i32)
          (local.set $status (call $proxy_get_buffer_bytes (local.get $buffer) (i32.const 0)
            (local.get $size) (i32.const 1024) (i32.const 1028)))
          (call $line_start (local.get $label_p) (local.get $label_l))
          (call $line_num (local.get $status))
          (call $line_bytes (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))
          (call $line_end))
        (func (export "proxy_on_vm_start") (param $ctx i32) (param $size i32) (result i32)
          (i32.store (i32.const 1028) (i32.const 0))
          (call $show {vm} (i32.const 6) (local.get $size))
          (i32.const 1))
        (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
          (call $show {plugin} (i32.const 7) (local.get $size))
          (if (result i32) (i32.eq (local.get $size) (i32.const 2))
            (then (i32.const 1))
            (else (drop (call $proxy_log (i32.const 4) {bad})) (i32.const 0))))
        (func (export "proxy_on_tick") (param $ctx i32)
          (i32.store (i32.const 1028) (i32.const 0))
          (call $show {plugin} (i32.const 7) (i32.const 100)))
        (func (export "proxy_on_context_create") (param i32 i32)
          (drop (call $proxy_set_tick_period_milliseconds (i32.const 10))))"#
    ));
    g
}

#[test]
fn configuration_buffers_are_readable_where_envoy_allows() {
    let options = HostOptions {
        vm_config: b"vmconf".to_vec(),
        ..Default::default()
    };
    let mut host = Host::load_with(config_checker().bytes(), "ok", options).unwrap();
    assert!(host.configured());
    host.advance(Duration::from_millis(10)).unwrap();
    // NOT_FOUND (1) outside proxy_on_configure: Envoy only has the plugin config there.
    assert_eq!(
        log_lines(&host),
        ["vm 0 vmconf", "plugin 0 ok", "plugin 1 "]
    );
}

#[test]
fn a_rejected_configuration_is_an_error_with_the_log_line() {
    let err = Host::load(config_checker().bytes(), "nope")
        .err()
        .expect("configure must fail");
    assert!(
        matches!(&err, Error::ConfigureFailed { logs } if logs.iter().any(|l| l.message.contains("field `x`")))
    );
    assert!(
        err.to_string().contains("bad config: field `x` is wrong"),
        "{err}"
    );

    let host = Host::try_load(config_checker().bytes(), "nope", HostOptions::default()).unwrap();
    assert!(!host.configured());
    assert!(host.logs().any(|l| l.message.contains("field `x`")));
}
