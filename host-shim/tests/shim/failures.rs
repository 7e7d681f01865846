//! A broken guest is an error the caller sees, never a hang or a host crash: traps, panics,
//! endless loops, pointers outside linear memory, and modules the shim cannot serve.

use std::time::Duration;

use hoptrace_shim::{Error, Host, HostOptions};

use crate::common::guest::Guest;

/// A guest whose request-headers callback runs `body` (then continues).
fn on_request(body: &str) -> Guest {
    let mut g = Guest::new();
    g.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
             {body}
             (i32.const 0))"#
    ));
    g
}

#[test]
fn a_trap_is_an_error_and_fails_the_vm() {
    let mut g = on_request("(unreachable)");
    let panic = g.s("panicked at src/lib.rs:1:1: boom");
    g.func(&format!(
        r#"(func (export "proxy_on_tick") (param i32) (drop (call $proxy_log (i32.const 5) {panic})) (unreachable))"#
    ));
    let mut host = Host::load(g.bytes(), "").unwrap();
    let err = host
        .request(crate::common::get("/", &[]))
        .err()
        .expect("must trap");
    match &err {
        Error::Trap {
            callback, message, ..
        } => {
            assert_eq!(*callback, "proxy_on_request_headers");
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(host.failure().is_some());
    let again = host
        .request(crate::common::get("/", &[]))
        .err()
        .expect("VM is failed");
    assert!(matches!(again, Error::VmFailed(_)), "{again:?}");
}

#[test]
fn a_panic_message_logged_before_the_trap_is_in_the_error() {
    let mut g = Guest::new();
    let panic = g.s("panicked at src/lib.rs:1:1: boom");
    g.func(&format!(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (drop (call $proxy_log (i32.const 5) {panic})) (unreachable))"#
    ));
    let err = Host::load(g.bytes(), "").err().expect("must trap");
    assert!(err.to_string().contains("boom"), "{err}");
    assert!(err.to_string().contains("proxy_on_configure"), "{err}");
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let options = HostOptions {
        fuel_per_callback: 1_000_000,
        ..Default::default()
    };
    let g = on_request("(loop $forever (br $forever))");
    let mut host = Host::load_with(g.bytes(), "", options).unwrap();
    let started = std::time::Instant::now();
    let err = host
        .request(crate::common::get("/", &[]))
        .err()
        .expect("must stop");
    assert!(err.to_string().contains("fuel"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn pointers_outside_memory_are_invalid_memory_access() {
    // Memory is 2 pages (131072 bytes).
    let mut g = on_request("");
    let key = g.s("k");
    let (label, oob) = (g.s("statuses"), "(i32.const 131070)");
    g.func(&format!(
        r#"(func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
             (call $line_start {label})
             (call $line_num (call $proxy_log (i32.const 2) {oob} (i32.const 16)))
             (call $line_num (call $proxy_log (i32.const 2) (i32.const -1) (i32.const 2)))
             (call $line_num (call $proxy_get_header_map_pairs (i32.const 2) {oob} (i32.const 1028)))
             (call $line_num (call $proxy_get_current_time_nanoseconds (i32.const 131068)))
             (call $line_num (call $proxy_add_header_map_value (i32.const 2) {key} {oob} (i32.const 100)))
             (call $line_num (call $random_get {oob} (i32.const 8)))
             (call $line_num (call $random_get (i32.const 2048) (i32.const 65537)))
             (call $line_num (call $proxy_log (i32.const 9) {key}))
             (call $line_end)
             (i32.const 0))"#
    ));
    let mut host = Host::load(g.bytes(), "").unwrap();
    let mut req = host.request(crate::common::get("/", &[])).unwrap();
    req.respond(200, [("a", "b")]).unwrap();
    let line = host.logs().last().unwrap().message.clone();
    // proxy status 6 = INVALID_MEMORY_ACCESS; WASI errno 21 = FAULT, 28 = INVAL; 2 = BAD_ARGUMENT.
    assert_eq!(line, "statuses 6 6 6 6 6 21 28 2");
}

#[test]
fn random_get_is_seeded() {
    let g = || {
        let mut g = on_request("(drop (call $random_get (i32.const 2048) (i32.const 8)))");
        let label = g.s("random");
        g.func(&format!(
            r#"(func (export "proxy_on_log") (param i32)
                 (drop (call $random_get (i32.const 2048) (i32.const 4)))
                 (call $line_start {label}) (call $line_num (i32.load (i32.const 2048))) (call $line_end))"#
        ));
        g
    };
    let draw = |seed| {
        let options = HostOptions {
            random_seed: seed,
            ..Default::default()
        };
        let mut host = Host::load_with(g().bytes(), "", options).unwrap();
        host.request(crate::common::get("/", &[]))
            .unwrap()
            .end()
            .unwrap();
        host.logs().last().unwrap().message.clone()
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
}

#[test]
fn wasi_beyond_what_a_proxy_offers_is_refused_and_proc_exit_ends_the_vm() {
    let files = r#"(module
        (import "wasi_snapshot_preview1" "path_open"
            (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "environ_get" (func (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "proxy_abi_version_0_2_1"))
        (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0)))"#;
    let err = Host::load(files.as_bytes(), "").err().expect("must refuse");
    assert!(
        matches!(&err, Error::UnsupportedImports(names) if names == &["wasi_snapshot_preview1.path_open"]),
        "{err:?}"
    );

    let exits = r#"(module
        (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "proxy_abi_version_0_2_1"))
        (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))
        (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
            ;; An empty environment: no variables, no bytes.
            (i32.store (i32.const 8) (i32.const 99))
            (i32.store (i32.const 12) (i32.const 99))
            (if (call $sizes (i32.const 8) (i32.const 12)) (then (unreachable)))
            (if (i32.or (i32.load (i32.const 8)) (i32.load (i32.const 12))) (then (unreachable)))
            (call $exit (i32.const 3))
            (i32.const 1)))"#;
    let err = Host::load(exits.as_bytes(), "").err().expect("must fail");
    assert!(err.to_string().contains("proc_exit(3)"), "{err}");
}

#[test]
fn modules_the_shim_cannot_serve_fail_at_load_with_a_clear_error() {
    let unknown = r#"(module
        (import "env" "proxy_future_call" (func (param i32)))
        (import "other" "thing" (func))
        (memory (export "memory") 1)
        (func (export "proxy_abi_version_0_2_1"))
        (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0)))"#;
    let err = Host::load(unknown.as_bytes(), "")
        .err()
        .expect("must refuse");
    assert!(
        matches!(&err, Error::UnsupportedImports(names) if names.len() == 2),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("env.proxy_future_call")
            && err.to_string().contains("other.thing")
    );

    let mut g = Guest::new();
    let err = Host::load(g.without_abi_marker().bytes(), "")
        .err()
        .expect("not proxy-wasm");
    assert!(matches!(err, Error::NotProxyWasm), "{err:?}");

    let wrong_signature = Guest::new()
        .func(r#"(func (export "proxy_on_tick") (param i64))"#)
        .bytes();
    let err = Host::load(wrong_signature, "").err().expect("bad export");
    assert!(
        matches!(
            err,
            Error::BadExport {
                name: "proxy_on_tick",
                ..
            }
        ),
        "{err:?}"
    );

    let err = Host::load("/nonexistent/hoptrace.wasm", "")
        .err()
        .expect("no file");
    assert!(
        err.to_string().contains("/nonexistent/hoptrace.wasm"),
        "{err}"
    );

    let err = Host::load(&b"not wasm"[..], "").err().expect("not wasm");
    assert!(matches!(err, Error::Compile(_)), "{err:?}");
}

#[test]
fn memory_size_is_visible() {
    let mut g = on_request("(drop (memory.grow (i32.const 3)))");
    g.func("");
    let mut host = Host::load(g.bytes(), "").unwrap();
    assert_eq!(host.memory_bytes(), 2 * 65536);
    host.request(crate::common::get("/", &[])).unwrap();
    assert_eq!(host.memory_bytes(), 5 * 65536);
}
