//! hoptrace.wasm exports only the callbacks it handles: a host calls every callback a module
//! exports (each response body chunk, each stream's `proxy_on_done`), and in Envoy each call is a
//! trip into V8. hoptrace defines its own entry points (`filter/plugin/src/entry.rs`), and
//! `make wasm` keeps exactly `filter/plugin/exports.json`.

use std::collections::BTreeSet;

use crate::common;

fn kept_by_build() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../filter/plugin/exports.json");
    let graph: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    graph
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["export"].as_str().unwrap().to_string())
        .collect()
}

fn exported_by(path: &std::path::Path) -> BTreeSet<String> {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, path).unwrap();
    module.exports().map(|e| e.name().to_string()).collect()
}

#[test]
fn hoptrace_exports_exactly_the_callbacks_it_handles() {
    let exported = exported_by(&common::hoptrace());
    assert_eq!(
        exported,
        kept_by_build(),
        "hoptrace.wasm was not trimmed as `make wasm` does (or exports.json is out of date)"
    );
    // Callbacks it has no use for: each would cost Envoy a call into the VM per stream or chunk.
    // A stream is forgotten at `proxy_on_log`, so not even `proxy_on_delete` is needed.
    // `proxy_on_done` is the exception: a root whose configuration is replaced must drain.
    assert!(exported.contains("proxy_on_done"));
    for unused in [
        "proxy_on_delete",
        "proxy_on_request_body",
        "proxy_on_response_body",
        "proxy_on_request_trailers",
        "proxy_on_response_trailers",
    ] {
        assert!(!exported.contains(unused), "{unused} is exported");
    }
}
