//! `proxy_call_foreign_function` from a WAT guest: Envoy's CEL functions, their statuses, and
//! which result slots the host writes (as cpp-host does: none for an unknown name, null and 0
//! when a known function fails).

use hoptrace_shim::{Host, HostOptions};

use crate::common::guest::Guest;

/// Logs `label status first-u32-of-the-result result-size` for one foreign call; the size slot
/// is preset to 99 so an untouched slot shows.
fn call(g: &mut Guest, label: &str, name: &str, arguments: &[u8]) -> String {
    let label = g.s(label);
    let name = g.s(name);
    let arguments = g.s(arguments);
    format!(
        r#"(i32.store (i32.const 1024) (i32.const 0)) (i32.store (i32.const 1028) (i32.const 99))
           (call $line_start {label})
           (call $line_num (call $proxy_call_foreign_function {name} {arguments}
              (i32.const 1024) (i32.const 1028)))
           (call $line_num (i32.load (i32.load (i32.const 1024))))
           (call $line_num (i32.load (i32.const 1028)))
           (call $line_end)"#
    )
}

fn cel_guest() -> Guest {
    let mut g = Guest::new();
    let token = |t: u32| t.to_le_bytes();
    let calls = [
        call(
            &mut g,
            "create",
            "expr_create",
            b"[request.protocol, xds.listener_direction]",
        ),
        call(&mut g, "evaluate", "expr_evaluate", &token(0)),
        call(&mut g, "refused", "expr_create", b"request.protocol + 1"),
        call(&mut g, "absent", "expr_create", b"upstream.address"),
        call(&mut g, "absent_eval", "expr_evaluate", &token(1)),
        call(&mut g, "short_token", "expr_evaluate", &[0, 0, 0]),
        call(&mut g, "unknown_name", "compress_everything", b"x"),
        call(&mut g, "delete", "expr_delete", &token(0)),
        call(&mut g, "deleted", "expr_evaluate", &token(0)),
    ]
    .join("\n");
    g.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
             {calls}
             (i32.const 0))"#
    ));
    g
}

fn lines(options: HostOptions) -> Vec<String> {
    let mut host = Host::load_with(cel_guest().bytes(), "", options).unwrap();
    host.set_property_str("request.protocol", "HTTP/2");
    host.set_property_i64("xds.listener_direction", 1);
    host.request(crate::common::get("/", &[])).unwrap();
    host.logs().map(|l| l.message.clone()).collect()
}

#[rustfmt::skip]
#[test]
fn cel_functions_answer_as_envoy_does() {
    // The list: a count, 2 x 8 bytes of sizes, "HTTP/2" + 2 NULs, an 8-byte int + 2 NULs.
    assert_eq!(lines(HostOptions::default()), [
        "create 0 0 4",          // OK, token 0, 4 bytes
        "evaluate 0 2 38",       // OK, a list of 2 in the header-pairs format
        "refused 2 0 0",         // BAD_ARGUMENT, no token, slots zeroed
        "absent 0 1 4",          // token 1: a refused expression took none
        "absent_eval 10 0 0",    // INTERNAL_FAILURE: upstream.address is not set
        "short_token 2 0 0",     // BAD_ARGUMENT: a token is 4 bytes
        "unknown_name 1 0 99",   // NOT_FOUND before the result slots are touched
        "delete 0 0 0",          // OK, nothing to answer
        "deleted 1 0 0",         // NOT_FOUND: the token is gone
    ]);
}

#[test]
fn a_host_without_cel_knows_no_foreign_function() {
    let options = HostOptions {
        foreign_functions: false,
        ..HostOptions::default()
    };
    let got = lines(options);
    assert_eq!(got.len(), 9);
    for line in got {
        assert!(
            line.ends_with(" 1 0 99"),
            "NOT_FOUND, slots untouched: {line}"
        );
    }
}
