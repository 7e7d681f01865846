//! The shim's behaviour tests, in one test binary so each .wasm module is compiled once per run
//! (a debug build of cranelift takes seconds per module).
//!
//! Built modules come from `target/wasm32-wasip1/release` (or `$HOPTRACE_WASM_DIR`); a missing one
//! fails its test with the command that builds it. The other guests are WAT written inline.

mod common;

mod callouts;
mod failures;
mod floors;
mod headers;
mod lifecycle;
mod metrics;
mod properties;
mod streams;
mod time;
