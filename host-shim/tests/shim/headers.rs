//! Header maps: repeated lines kept, `get` sees the first, edits as Envoy makes them, and maps
//! reachable only where Envoy has them (own callback until Continue; read-only in on_log).

use hoptrace_shim::{pairs, Host};

use crate::common::guest::Guest;

/// Status and value of `proxy_get_header_map_value(map, key)` as a log line `label status value`.
fn get_value(g: &mut Guest, label: &str, map: u32, key: &str) -> String {
    let label = g.s(label);
    let key = g.s(key);
    format!(
        r#"(i32.store (i32.const 1028) (i32.const 0))
           (call $line_start {label})
           (call $line_num (call $proxy_get_header_map_value (i32.const {map}) {key} (i32.const 1024) (i32.const 1028)))
           (call $line_bytes (i32.load (i32.const 1024)) (i32.load (i32.const 1028)))
           (call $line_end)"#
    )
}

/// Logs `label status` for a call returning a status.
fn status(g: &mut Guest, label: &str, call: &str) -> String {
    let label = g.s(label);
    format!("(call $line_start {label}) (call $line_num {call}) (call $line_end)")
}

fn editing_guest() -> Guest {
    let mut g = Guest::new();
    let traceparent = g.s("traceparent");
    let new = g.s("00-new");
    let added = g.s("x-added");
    let one = g.s("1");
    let remove = g.s("x-remove");
    let set_all = g.s("x-set-all");
    let replacement = g.s(pairs::encode(&[("only", "this"), ("only", "that")]));
    let dup = get_value(&mut g, "dup", 0, "dup");
    let missing = get_value(&mut g, "missing", 0, "missing");
    let pairs_size = status(
        &mut g,
        "pairs",
        "(call $proxy_get_header_map_pairs (i32.const 0) (i32.const 1024) (i32.const 1028))",
    );
    let size_line = g.s("pairs_size");
    let byte_size = status(
        &mut g,
        "byte_size",
        "(call $proxy_get_header_map_size (i32.const 0) (i32.const 1040))",
    );
    let bytes_line = g.s("bytes");
    let bad_map = status(
        &mut g,
        "bad_map",
        &format!("(call $proxy_replace_header_map_value (i32.const 9) {traceparent} {new})"),
    );
    let late_write = status(
        &mut g,
        "late_write",
        &format!("(call $proxy_replace_header_map_value (i32.const 0) {traceparent} {new})"),
    );
    let late_dup = get_value(&mut g, "late_dup", 0, "dup");
    let late_pairs = status(
        &mut g,
        "late_pairs",
        "(call $proxy_get_header_map_pairs (i32.const 0) (i32.const 1024) (i32.const 1028))",
    );
    let resp_status = get_value(&mut g, "resp_status", 2, ":status");
    let log_tp = get_value(&mut g, "log_traceparent", 0, "traceparent");
    let log_missing = get_value(&mut g, "log_missing", 0, "missing");
    let log_status = get_value(&mut g, "log_status", 2, ":status");
    let log_write = status(
        &mut g,
        "log_write",
        &format!("(call $proxy_add_header_map_value (i32.const 0) {added} {one})"),
    );
    g.func(&format!(
        r#"
        (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
          (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) {set_all} (i32.const 1024) (i32.const 1028)))
            (then
              (drop (call $proxy_set_header_map_pairs (i32.const 0) {replacement}))
              (return (i32.const 0))))
          {dup}
          {missing}
          {pairs_size}
          (call $line_start {size_line}) (call $line_num (i32.load (i32.const 1028))) (call $line_end)
          (drop (call $proxy_replace_header_map_value (i32.const 0) {traceparent} {new}))
          (drop (call $proxy_add_header_map_value (i32.const 0) {added} {one}))
          (drop (call $proxy_remove_header_map_value (i32.const 0) {remove}))
          {byte_size}
          (call $line_start {bytes_line}) (call $line_num (i32.load (i32.const 1040))) (call $line_end)
          {bad_map}
          (i32.const 0))
        (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
          {late_write}
          {late_dup}
          (i32.store (i32.const 1028) (i32.const 99))
          {late_pairs}
          (call $line_start {size_line}) (call $line_num (i32.load (i32.const 1028))) (call $line_end)
          {resp_status}
          (i32.const 0))
        (func (export "proxy_on_log") (param $ctx i32)
          {log_tp}
          {log_missing}
          {log_status}
          {log_write})"#
    ));
    g
}

#[test]
fn repeated_lines_edits_and_reachability_follow_envoy() {
    let mut host = Host::load(editing_guest().bytes(), "").unwrap();
    let headers = [
        (":method", "GET"),
        (":path", "/"),
        (":authority", "a"),
        ("dup", "first"),
        ("traceparent", "00-old-1"),
        ("x-remove", "gone"),
        ("dup", "second"),
        ("traceparent", "00-old-2"),
        ("x-remove", "gone too"),
    ];
    let wire = pairs::encoded_len(&headers);
    let mut req = host.request(headers).unwrap();
    let upstream: Vec<(String, String)> = req
        .upstream_headers()
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let want: Vec<(String, String)> = [
        (":method", "GET"),
        (":path", "/"),
        (":authority", "a"),
        ("dup", "first"),
        ("traceparent", "00-new"),
        ("dup", "second"),
        ("x-added", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        upstream, want,
        "replace keeps one line in the first place; remove drops all"
    );
    req.respond(200, [("server", "test")]).unwrap();
    req.end().unwrap();

    let byte_size: usize = want.iter().map(|(k, v)| k.len() + v.len()).sum();
    let lines: Vec<String> = host.logs().map(|l| l.message.clone()).collect();
    assert_eq!(
        lines,
        [
            "dup 0 first".to_string(),
            "missing 1 ".to_string(),
            "pairs 0".to_string(),
            format!("pairs_size {wire}"),
            "byte_size 0".to_string(),
            format!("bytes {byte_size}"),
            "bad_map 2".to_string(),
            // After Continue the request headers are gone from the filter's reach.
            "late_write 2".to_string(),
            "late_dup 2 ".to_string(),
            "late_pairs 0".to_string(),
            "pairs_size 0".to_string(),
            "resp_status 0 200".to_string(),
            // on_log: read-only view of both maps.
            "log_traceparent 0 00-new".to_string(),
            "log_missing 1 ".to_string(),
            "log_status 0 200".to_string(),
            "log_write 2".to_string(),
        ]
    );
}

#[test]
fn set_header_map_pairs_replaces_the_whole_map() {
    let mut host = Host::load(editing_guest().bytes(), "").unwrap();
    let req = host.request([(":path", "/"), ("x-set-all", "1")]).unwrap();
    let lines: Vec<_> = req.upstream_headers().get_all("only");
    assert_eq!(lines, [&b"this"[..], &b"that"[..]]);
    assert_eq!(req.upstream_headers().len(), 2);
}
