//! Properties with Envoy's encodings: what a test sets for the host or one request, and what the
//! shim derives per request (`request.time`, `request.duration`, `response.code`, ...).

use std::time::{Duration, UNIX_EPOCH};

use hoptrace_shim::Host;

use crate::common::guest::Guest;

/// Logs `label status <first 4 bytes as u32 LE> size` for `proxy_get_property(path)`.
fn int_property(g: &mut Guest, label: &str, path: &str) -> String {
    let label = g.s(label);
    let path = g.s(path);
    format!(
        r#"(i32.store (i32.const 1024) (i32.const 2048)) (i32.store (i32.const 2048) (i32.const 0))
           (i32.store (i32.const 1028) (i32.const 0))
           (call $line_start {label})
           (call $line_num (call $proxy_get_property {path} (i32.const 1024) (i32.const 1028)))
           (call $line_num (i32.load (i32.load (i32.const 1024))))
           (call $line_num (i32.load (i32.const 1028)))
           (call $line_end)"#
    )
}

/// Logs `label status value` for a string property.
fn str_property(g: &mut Guest, label: &str, path: &str) -> String {
    let label = g.s(label);
    let path = g.s(path);
    format!(
        r#"(i32.store (i32.const 1028) (i32.const 0))
           (call $line_start {label})
           (call $line_num (call $proxy_get_property {path} (i32.const 1024) (i32.const 1028)))
           (call $line_bytes (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))
           (call $line_end)"#
    )
}

fn property_guest() -> Guest {
    let mut g = Guest::new();
    let direction = int_property(&mut g, "direction", "xds\0listener_direction");
    let time = int_property(&mut g, "time", "request\0time");
    let early_code = int_property(&mut g, "early_code", "response\0code");
    let workload = str_property(&mut g, "workload", "xds\0node\0metadata\0WORKLOAD_NAME");
    let dotted = str_property(&mut g, "dotted", "xds\0node\0metadata\0istio.io/rev");
    let code = int_property(&mut g, "code", "response\0code");
    let duration = int_property(&mut g, "duration", "request\0duration");
    let flags = int_property(&mut g, "flags", "response\0flags");
    let upstream = str_property(&mut g, "upstream", "upstream\0address");
    let own = str_property(&mut g, "own", "wasm\0mine");
    let (mine, value) = (g.s("wasm\0mine"), g.s("set by guest"));
    g.func(&format!(
        r#"
        (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
          {direction} {time} {early_code} {workload} {dotted} {own}
          (drop (call $proxy_set_property {mine} {value}))
          {own}
          (i32.const 0))
        (func (export "proxy_on_log") (param $ctx i32)
          {code} {duration} {flags} {upstream})"#
    ));
    g
}

#[test]
fn host_request_and_derived_properties() {
    let mut host = Host::load(property_guest().bytes(), "").unwrap();
    host.set_property_i64("xds.listener_direction", 2);
    host.set_property_str("xds.node.metadata.WORKLOAD_NAME", "reviews-v1");
    host.set_property_segments(&["xds", "node", "metadata", "istio.io/rev"], "canary");
    let started = host.now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;

    let mut req = host.request(crate::common::get("/", &[])).unwrap();
    req.set_property_i64("response.flags", 0x40).unwrap();
    req.set_property_str("upstream.address", "10.0.0.7:8080")
        .unwrap();
    req.respond(503, Vec::<(&str, &str)>::new()).unwrap();
    req.end_after(Duration::from_millis(250)).unwrap();

    let lines: Vec<String> = host.logs().map(|l| l.message.clone()).collect();
    assert_eq!(
        lines,
        [
            "direction 0 2 8".to_string(),
            format!("time 0 {} 8", started as u32),
            "early_code 1 0 0".to_string(),
            "workload 0 reviews-v1".to_string(),
            "dotted 0 canary".to_string(),
            "own 1 ".to_string(),
            "own 0 set by guest".to_string(),
            "code 0 503 8".to_string(),
            "duration 0 250000000 8".to_string(),
            "flags 0 64 8".to_string(),
            "upstream 0 10.0.0.7:8080".to_string(),
        ]
    );
}

#[test]
fn a_guests_own_property_stays_on_its_request() {
    let mut host = Host::load(property_guest().bytes(), "").unwrap();
    host.request(crate::common::get("/", &[]))
        .unwrap()
        .end()
        .unwrap();
    host.clear_logs();
    host.request(crate::common::get("/", &[])).unwrap();
    assert!(
        host.logs().any(|l| l.message == "own 1 "),
        "a new request starts without it"
    );
}
