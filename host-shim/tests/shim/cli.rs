//! The `hoptrace-shim` binary as a person runs it.

use std::process::Command;

fn shim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hoptrace-shim"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

#[test]
fn help_names_both_commands_with_examples() {
    for args in [&[][..], &["--help"], &["help"]] {
        let (ok, out, _) = shim(args);
        assert!(ok);
        assert!(
            out.contains("replay") && out.contains("bench") && out.contains("EXAMPLES"),
            "{out}"
        );
    }
    let (ok, out, _) = shim(&["help", "replay"]);
    assert!(ok && out.contains("SPEC is"), "{out}");
    let (ok, out, _) = shim(&["bench", "--help"]);
    assert!(ok && out.contains("--baseline"), "{out}");
}

#[test]
fn mistakes_say_what_to_do() {
    let (ok, _, err) = shim(&["replay"]);
    assert!(!ok && err.contains("--wasm"), "{err}");
    let (ok, _, err) = shim(&["replay", "--wasm", "x.wasm", "--nope"]);
    assert!(!ok && err.contains("hoptrace-shim help replay"), "{err}");
    let (ok, _, err) = shim(&["frobnicate"]);
    assert!(!ok && err.contains("hoptrace-shim help"), "{err}");
}

#[test]
fn replay_prints_upstream_headers_as_json() {
    let wasm = crate::common::floor_rewrite();
    let (ok, out, err) = shim(&[
        "replay",
        "--wasm",
        wasm.to_str().unwrap(),
        "--request",
        "GET /a -H traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 -H x:1 -H x:2",
        "--flush",
        "1",
    ]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let request = &json["requests"][0];
    let headers: Vec<&str> = request["upstream_headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(headers
        .iter()
        .any(|h| h.starts_with("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-")));
    assert_eq!(headers.iter().filter(|h| h.starts_with("x: ")).count(), 2);
    assert_eq!(request["host_calls"]["total"], 2);
    assert_eq!(json["exports"], serde_json::json!([]));
}

#[test]
fn replay_no_cel_plays_a_host_without_cel_functions() {
    let wasm = crate::common::hoptrace();
    let logs = |extra: &[&str]| {
        let mut args = vec!["replay", "--wasm", wasm.to_str().unwrap(), "--flush", "1"];
        args.extend_from_slice(extra);
        let (ok, out, err) = shim(&args);
        assert!(ok, "{err}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        json["logs"].to_string()
    };
    let warning = "the host has no CEL expressions";
    assert!(!logs(&[]).contains(warning));
    assert!(logs(&["--no-cel"]).contains(warning));
}
