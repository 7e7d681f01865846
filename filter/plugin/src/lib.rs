//! hoptrace as a proxy-wasm HTTP filter: glue between the host (Envoy) and `hoptrace-core`.
//!
//! This crate owns no tracing logic. It reads what the host offers (header lines, properties, the
//! clock, callout answers), hands it to the core, and carries out what the core decides (header edits,
//! export callouts, metrics). Anything that would need a unit test belongs in the core.

// The only public items are the proxy-wasm ABI entry points (`entry.rs`).
#![allow(missing_docs)]

mod abi;
mod entry;
mod facts;
mod host;
mod metrics;
mod pairs;
mod root;
mod shared;
mod stream;

use hoptrace_core::size_classes::SizeClasses;

/// Small blocks from per-size free lists, the rest from wasi-libc's dlmalloc (see `SizeClasses`).
#[global_allocator]
static ALLOCATOR: SizeClasses<std::alloc::System> = SizeClasses::new(std::alloc::System);
