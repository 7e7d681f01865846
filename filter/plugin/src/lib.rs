//! hoptrace as a proxy-wasm HTTP filter: glue between the host (Envoy) and `hoptrace-core`.
//!
//! This crate owns no tracing logic: the core's `lifecycle` decides every read and write. The plugin
//! answers the core's reads with host calls (`host.rs`), and carries out what comes back (header
//! edits, export callouts, metrics, log lines) from the entry points (`entry.rs`, `root.rs`,
//! `stream.rs`). Anything that would need a unit test belongs in the core.

// The only public items are the proxy-wasm ABI entry points (`entry.rs`).
#![allow(missing_docs)]

mod abi;
mod entry;
mod host;
mod root;
mod stream;

use hoptrace_alloc::SizeClasses;

/// Small blocks from per-size free lists, the rest from wasi-libc's dlmalloc (see `SizeClasses`).
#[global_allocator]
static ALLOCATOR: SizeClasses<std::alloc::System> = SizeClasses::new(std::alloc::System);
