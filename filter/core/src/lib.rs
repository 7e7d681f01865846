//! hoptrace-core: every decision hoptrace makes, as pure functions and small state machines.
//!
//! Sans-IO: header lines, clock readings and bytes go in; sampling decisions, header edits, encoded
//! OTLP requests and counters come out. Nothing here knows about proxy-wasm, so it is tested natively.

#![forbid(unsafe_code)]

pub mod config;
pub mod export;
pub mod expose;
pub mod hop;
pub mod host_pairs;
pub mod ids;
pub mod keep;
pub mod lifecycle;
pub mod memory;
pub mod otlp;
pub mod pipeline;
pub mod propagation;
pub mod sampler;
pub mod span;
pub mod text;
