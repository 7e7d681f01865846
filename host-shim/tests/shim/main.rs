//! The shim's behaviour tests, in one test binary so each .wasm module is compiled once per run
//! (a debug build of cranelift takes seconds per module).
//!
//! Built modules come from `target/wasm32-wasip1/release` (or `$HOPTRACE_WASM_DIR`); a missing one
//! fails its test with the command that builds it. The other guests are WAT written inline.

// Helpers outside #[test] functions may fail loudly too: this whole binary is test code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

mod callouts;
mod cli;
mod exports;
mod failures;
mod floors;
mod foreign;
mod headers;
mod hoptrace_cases;
mod hoptrace_cel;
mod hoptrace_edge;
mod hoptrace_export;
mod hoptrace_expose;
mod hoptrace_keep;
mod hoptrace_resilience;
mod hoptrace_rules;
mod hoptrace_support;
mod lifecycle;
mod metrics;
mod properties;
mod streams;
mod time;
