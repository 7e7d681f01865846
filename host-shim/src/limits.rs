//! Named limits the shim enforces, with where each number comes from.
//!
//! Envoy's values come from proxy-wasm-cpp-host `include/proxy-wasm/limits.h`; the rest are the
//! shim's own guards against a guest that loops or a test that never stops producing output.

/// Largest serialized header-pairs buffer the host decodes (cpp-host `PROXY_WASM_HOST_PAIRS_MAX_BYTES`).
pub const PAIRS_MAX_BYTES: usize = 1024 * 1024;

/// Most pairs in one serialized buffer the host decodes (cpp-host `PROXY_WASM_HOST_PAIRS_MAX_COUNT`).
pub const PAIRS_MAX_COUNT: usize = 1024;

/// Largest linear memory a guest may grow to (cpp-host `PROXY_WASM_HOST_MAX_WASM_MEMORY_SIZE_BYTES`).
pub const MAX_WASM_MEMORY_BYTES: usize = 1024 * 1024 * 1024;

/// Largest `random_get` request (cpp-host `PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES`).
pub const RANDOM_GET_MAX_BYTES: usize = 64 * 1024;

/// Wasm instructions (wasmtime fuel) one callback may run before it is stopped as a runaway.
///
/// Envoy has no such budget, but a hung test is worse than a failed one: a real callback of
/// hoptrace runs well under a million instructions; an infinite loop hits this in about a second.
pub const DEFAULT_FUEL_PER_CALLBACK: u64 = 1_000_000_000;

/// Log lines kept; older ones are dropped (and counted) so a long soak cannot exhaust memory.
pub const MAX_LOG_LINES: usize = 100_000;

/// Callback records kept in the host-call trace; older ones are dropped (totals stay exact).
pub const MAX_CALLBACK_RECORDS: usize = 10_000;

/// Values kept per histogram metric; older ones are dropped (count and sum stay exact).
pub const MAX_HISTOGRAM_VALUES: usize = 10_000;

/// Longest CEL expression `expr_create` parses, in characters (cel-cpp parser
/// `kExpressionSizeCodepointLimit`, the parser Envoy uses).
pub const CEL_MAX_EXPRESSION_CHARS: usize = 100_000;

/// Deepest nesting `expr_create` parses (cel-cpp parser `kDefaultMaxRecursionDepth`); it also
/// bounds the host's recursion when evaluating.
pub const CEL_MAX_RECURSION_DEPTH: usize = 250;
