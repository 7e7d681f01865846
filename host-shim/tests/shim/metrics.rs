//! Metrics with Envoy's rules, read by name; host calls counted per function and per callback.

use hoptrace_shim::{Host, MetricKind};

use crate::common::guest::Guest;

fn metric_guest() -> Guest {
    let mut g = Guest::new();
    let (requests, queue, latency) = (g.s("requests"), g.s("queue"), g.s("latency"));
    let label = g.s("statuses");
    g.func(&format!(
        r#"
        (global $requests (mut i32) (i32.const 0))
        (global $queue (mut i32) (i32.const 0))
        (global $latency (mut i32) (i32.const 0))
        (func (export "proxy_on_configure") (param i32 i32) (result i32)
          (drop (call $proxy_define_metric (i32.const 0) {requests} (i32.const 1040)))
          (global.set $requests (i32.load (i32.const 1040)))
          (drop (call $proxy_define_metric (i32.const 1) {queue} (i32.const 1040)))
          (global.set $queue (i32.load (i32.const 1040)))
          (drop (call $proxy_define_metric (i32.const 2) {latency} (i32.const 1040)))
          (global.set $latency (i32.load (i32.const 1040)))
          (i32.const 1))
        (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
          (drop (call $proxy_increment_metric (global.get $requests) (i64.const 1)))
          (drop (call $proxy_increment_metric (global.get $queue) (i64.const 3)))
          (drop (call $proxy_record_metric (global.get $latency) (i64.const 7)))
          (i32.const 0))
        (func (export "proxy_on_log") (param i32)
          (call $line_start {label})
          (call $line_num (call $proxy_increment_metric (global.get $requests) (i64.const -1)))
          (call $line_num (call $proxy_increment_metric (global.get $queue) (i64.const -1)))
          (call $line_num (call $proxy_get_metric (global.get $latency) (i32.const 1032)))
          (call $line_num (call $proxy_get_metric (i32.const 999) (i32.const 1032)))
          (call $line_num (call $proxy_define_metric (i32.const 3) {requests} (i32.const 1040)))
          (call $line_end))"#
    ));
    g
}

#[test]
fn counters_gauges_and_histograms_follow_envoy() {
    let mut host = Host::load(metric_guest().bytes(), "").unwrap();
    for _ in 0..3 {
        host.request(crate::common::get("/", &[]))
            .unwrap()
            .end()
            .unwrap();
    }
    assert_eq!(host.metric("requests"), Some(3));
    assert_eq!(host.metric("queue"), Some(6), "3 × (+3 − 1)");
    assert_eq!(host.metric("nope"), None);
    let latency = host.histogram("latency").unwrap();
    assert_eq!((latency.count, latency.sum), (3, 21));
    assert_eq!(
        host.metrics(),
        [
            ("queue".to_string(), MetricKind::Gauge, 6),
            ("requests".to_string(), MetricKind::Counter, 3)
        ]
    );
    // Counter decrement: BAD_ARGUMENT; histogram read: BAD_ARGUMENT; unknown id: NOT_FOUND;
    // unknown metric type: BAD_ARGUMENT.
    assert_eq!(host.logs().last().unwrap().message, "statuses 2 0 2 1 2");
}

#[test]
fn host_calls_are_counted_per_function_and_callback() {
    let mut host = Host::load(metric_guest().bytes(), "").unwrap();
    host.reset_host_calls();
    let report = host
        .request(crate::common::get("/", &[]))
        .unwrap()
        .end()
        .unwrap();
    assert_eq!(report.host_calls_in("proxy_on_request_headers"), 3);
    assert_eq!(report.host_calls_in("proxy_on_log"), 6);
    let calls = host.host_calls();
    assert_eq!(calls.total, 9);
    assert_eq!(calls.of_function("proxy_increment_metric"), 4);
    assert_eq!(calls.in_callback("proxy_on_request_headers"), 3);
    let trace: Vec<_> = host
        .callback_trace()
        .map(|r| (r.callback, r.host_calls))
        .collect();
    // Callbacks the module does not export are not made (and not recorded).
    assert_eq!(
        trace,
        [("proxy_on_request_headers", 3), ("proxy_on_log", 6)]
    );
}
