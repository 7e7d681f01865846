//! hoptrace for JavaScript runtimes: the filter's core (propagation, consistent sampling, spans, OTLP
//! encoding, the export queue) compiled to `wasm32-unknown-unknown` and exposed with `wasm-bindgen`.
//!
//! The Rust side stays sans-IO like the core: JavaScript passes in header text, clock readings and
//! random seed bytes, and sends the export requests this crate hands out with `fetch`, reporting each
//! outcome back. The JavaScript API (`create`, `tracer.start`, `hop.end`) lives in the package's own
//! glue (`filter/js/js/`), over the low-level [`bindings::Core`].

pub mod bindings;
pub mod config;
pub mod engine;
