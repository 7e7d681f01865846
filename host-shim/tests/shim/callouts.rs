//! HTTP callouts: dispatched from the root context in on_tick, answered at once or after a delay,
//! failed as Envoy reports failures (timeout 504, connection refused 503, reset), and Envoy's
//! argument checks (unknown cluster, missing pseudo-headers).

use std::time::Duration;

use hoptrace_shim::{pairs, CalloutResponse, Error, Failure, Host, HostOptions};

use crate::common::guest::Guest;

/// On its first tick the guest tries an unknown cluster, a request without `:authority`, and a
/// proper export (timeout 1 s); every response is logged in detail.
fn exporting_guest() -> Guest {
    let mut g = Guest::new();
    let good = pairs::encode(&[
        (":method", "POST"),
        (":path", "/v1/traces"),
        (":authority", "collector"),
        ("content-type", "application/x-protobuf"),
    ]);
    let no_authority = pairs::encode(&[(":method", "POST"), (":path", "/v1/traces")]);
    let (good, no_authority) = (g.s(good), g.s(no_authority));
    let (collector, nowhere, body) = (g.s("collector"), g.s("nowhere"), g.s("spans"));
    let (unknown, missing, dispatch) = (g.s("unknown"), g.s("no_authority"), g.s("dispatch"));
    let (response, status, body_line, get_status, retry) = (
        g.s("response"),
        g.s("status"),
        g.s("body"),
        g.s("get_status"),
        g.s("retry_after"),
    );
    let (status_key, retry_key) = (g.s(":status"), g.s("retry-after"));
    let call = |headers: &str, cluster: &str| {
        format!(
            "(call $proxy_http_call {cluster} {headers} {body} (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 1040))"
        )
    };
    let (c_unknown, c_missing, c_good) = (
        call(&good, &nowhere),
        call(&no_authority, &collector),
        call(&good, &collector),
    );
    g.func(&format!(
        r#"
        (global $sent (mut i32) (i32.const 0))
        (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
          (drop (call $proxy_set_tick_period_milliseconds (i32.const 1000)))
          (i32.const 1))
        (func (export "proxy_on_tick") (param $ctx i32)
          (if (global.get $sent) (then (return)))
          (global.set $sent (i32.const 1))
          (call $line_start {unknown}) (call $line_num {c_unknown}) (call $line_end)
          (call $line_start {missing}) (call $line_num {c_missing}) (call $line_end)
          (call $line_start {dispatch}) (call $line_num {c_good})
          (call $line_num (i32.load (i32.const 1040))) (call $line_end))
        (func $value (param $label_p i32) (param $label_l i32) (param $key_p i32) (param $key_l i32)
          (i32.store (i32.const 1028) (i32.const 0))
          (call $line_start (local.get $label_p) (local.get $label_l))
          (call $line_num (call $proxy_get_header_map_value (i32.const 6) (local.get $key_p) (local.get $key_l) (i32.const 1024) (i32.const 1028)))
          (call $line_bytes (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))
          (call $line_end))
        (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
          (call $line_start {response}) (call $line_num (local.get $ctx)) (call $line_num (local.get $token))
          (call $line_num (local.get $nh)) (call $line_num (local.get $bs)) (call $line_num (local.get $nt)) (call $line_end)
          (call $value {status} {status_key})
          (call $value {retry} {retry_key})
          (i32.store (i32.const 1028) (i32.const 0))
          (call $line_start {body_line})
          (call $line_num (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (local.get $bs) (i32.const 1024) (i32.const 1028)))
          (call $line_bytes (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))
          (call $line_end)
          (i32.store (i32.const 1028) (i32.const 0))
          (drop (call $proxy_get_status (i32.const 1040) (i32.const 1024) (i32.const 1028)))
          (call $line_start {get_status}) (call $line_num (i32.load (i32.const 1040)))
          (call $line_bytes (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))
          (call $line_end))"#
    ));
    g
}

fn loaded() -> Host {
    let options = HostOptions {
        clusters: vec!["collector".into()],
        ..Default::default()
    };
    let mut host = Host::load_with(exporting_guest().bytes(), "", options).unwrap();
    host.advance(Duration::from_secs(1)).unwrap();
    host
}

fn lines(host: &Host) -> Vec<String> {
    host.logs().map(|l| l.message.clone()).collect()
}

#[test]
fn envoys_argument_checks_and_the_dispatched_request() {
    let host = loaded();
    assert_eq!(
        lines(&host),
        ["unknown 2", "no_authority 2", "dispatch 0 1"]
    );
    let callouts = host.callouts();
    assert_eq!(callouts.len(), 1);
    let c = &callouts[0];
    assert_eq!(
        (c.id, c.context_id, c.cluster.as_str()),
        (1, 1, "collector")
    );
    assert_eq!(c.header(":path"), Some("/v1/traces"));
    assert_eq!(
        c.header("content-length"),
        Some("5"),
        "Envoy sets it for a body"
    );
    assert_eq!(c.body, b"spans");
    assert_eq!(c.timeout, Some(Duration::from_secs(1)));
    assert_eq!(c.dispatched_at, Duration::from_secs(1));
}

#[test]
fn an_answer_reaches_the_dispatching_context() {
    let mut host = loaded();
    host.clear_logs();
    let response = CalloutResponse::new(429)
        .header("retry-after", "3")
        .body("slow down");
    host.answer(1, response).unwrap();
    assert_eq!(
        lines(&host),
        [
            "response 1 1 2 9 0",
            "status 0 429",
            "retry_after 0 3",
            "body 0 slow down",
            "get_status 0 "
        ]
    );
    assert!(host.callouts().is_empty());
    assert!(matches!(
        host.answer(1, CalloutResponse::new(200)),
        Err(Error::UnknownCallout(1))
    ));
}

#[test]
fn a_delayed_answer_arrives_when_time_gets_there() {
    let mut host = loaded();
    host.clear_logs();
    host.answer(
        1,
        CalloutResponse::new(200).after(Duration::from_millis(300)),
    )
    .unwrap();
    assert!(
        host.callouts().is_empty(),
        "an answered callout is no longer waiting"
    );
    host.advance(Duration::from_millis(299)).unwrap();
    assert!(lines(&host).is_empty());
    host.advance(Duration::from_millis(1)).unwrap();
    assert_eq!(
        lines(&host).first().map(String::as_str),
        Some("response 1 1 1 0 0")
    );
}

#[rustfmt::skip]
#[test]
fn failures_arrive_as_envoy_reports_them() {
    let refused = "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
    let cases: [(&str, Option<Failure>, Vec<String>); 4] = [
        ("timeout by advancing past it", None, vec![
            "response 1 1 3 24 0".into(), "status 0 504".into(), "retry_after 1 ".into(),
            "body 0 upstream request timeout".into(), "get_status 0 ".into()]),
        ("timeout by failing", Some(Failure::Timeout), vec![
            "response 1 1 3 24 0".into(), "status 0 504".into(), "retry_after 1 ".into(),
            "body 0 upstream request timeout".into(), "get_status 0 ".into()]),
        ("connection refused", Some(Failure::ConnectionRefused), vec![
            format!("response 1 1 3 {} 0", refused.len()), "status 0 503".into(),
            "retry_after 1 ".into(), format!("body 0 {refused}"), "get_status 0 ".into()]),
        ("reset", Some(Failure::Reset), vec![
            // No response message: maps unreachable (BAD_ARGUMENT), no body (NOT_FOUND).
            "response 1 1 0 0 0".into(), "status 2 ".into(), "retry_after 2 ".into(),
            "body 1 ".into(), "get_status 11 reset".into()]),
    ];
    for (name, failure, want) in cases {
        let mut host = loaded();
        host.clear_logs();
        match failure {
            Some(f) => host.fail(1, f).unwrap(),
            None => host.advance(Duration::from_millis(1000)).unwrap(),
        }
        assert_eq!(lines(&host), want, "{name}");
    }
}

#[test]
fn a_timeout_due_before_a_delayed_answer_wins() {
    let mut host = loaded();
    host.clear_logs();
    host.answer(1, CalloutResponse::new(200).after(Duration::from_secs(5)))
        .unwrap();
    host.advance(Duration::from_secs(10)).unwrap();
    let got = lines(&host);
    assert_eq!(
        got.iter().filter(|l| l.starts_with("response")).count(),
        1,
        "{got:?}"
    );
    assert!(got.contains(&"status 0 504".to_string()), "{got:?}");
}
