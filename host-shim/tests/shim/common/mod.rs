//! Shared by the shim's tests: where the built .wasm modules are, and a failure that says how to
//! build a missing one.

#![allow(dead_code)] // Each test module uses part of this.

pub mod guest;

use std::path::PathBuf;

/// The command that builds the benchmark floors the tests load.
pub const BUILD_FLOORS: &str =
    "cargo build --release --target wasm32-wasip1 -p floor-noop -p floor-rewrite";

/// The command that builds hoptrace.wasm (cargo, then the export trim and wasm-opt).
pub const BUILD_HOPTRACE: &str = "make wasm";

/// `target/wasm32-wasip1/release` of the workspace, or `$HOPTRACE_WASM_DIR`.
pub fn wasm_dir() -> PathBuf {
    match std::env::var_os("HOPTRACE_WASM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target/wasm32-wasip1/release"),
    }
}

/// The path of a built module; panics (failing the test) with the command that builds it.
pub fn wasm(file: &str, build: &str) -> PathBuf {
    let path = wasm_dir().join(file);
    assert!(
        path.is_file(),
        "{} is missing; build it from the workspace root with:\n    {build}",
        path.display()
    );
    path
}

/// floor_noop.wasm: returns at once, no host call.
pub fn floor_noop() -> PathBuf {
    wasm("floor_noop.wasm", BUILD_FLOORS)
}

/// floor_rewrite.wasm: reads traceparent, writes a new one.
pub fn floor_rewrite() -> PathBuf {
    wasm("floor_rewrite.wasm", BUILD_FLOORS)
}

/// hoptrace.wasm, for the behaviour tests of the real filter.
pub fn hoptrace() -> PathBuf {
    wasm("hoptrace.wasm", BUILD_HOPTRACE)
}

/// A GET request as Envoy's router sees it, plus `extra` lines.
pub fn get(path: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_string(), "GET".to_string()),
        (":path".to_string(), path.to_string()),
        (":authority".to_string(), "example.com".to_string()),
        (":scheme".to_string(), "http".to_string()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    headers
}
