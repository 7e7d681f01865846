//! hoptrace as a proxy-wasm HTTP filter: glue between the host (Envoy) and `hoptrace-core`.
//!
//! This crate owns no tracing logic. It reads what the host offers (header lines, properties, the
//! clock, callout answers), hands it to the core, and carries out what the core decides (header edits,
//! export callouts, metrics). Anything that would need a unit test belongs in the core.

// The only exports are the proxy-wasm ABI entry points the SDK's `main!` generates.
#![allow(missing_docs)]

mod facts;
mod host;
mod metrics;
mod pairs;
mod root;
mod shared;
mod stream;

use hoptrace_core::size_classes::SizeClasses;
use proxy_wasm::types::LogLevel;

/// Small blocks from per-size free lists, the rest from wasi-libc's dlmalloc (see `SizeClasses`).
#[global_allocator]
static ALLOCATOR: SizeClasses<std::alloc::System> = SizeClasses::new(std::alloc::System);

proxy_wasm::main! {{
    // A panic traps the VM and Envoy then fails every request through it: say why before that happens.
    std::panic::set_hook(Box::new(|info| {
        let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("hoptrace: panic: {info}"));
    }));
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(root::HoptraceRoot::default()));
}}
