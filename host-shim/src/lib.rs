//! hoptrace-shim: a proxy-wasm host on wasmtime.
