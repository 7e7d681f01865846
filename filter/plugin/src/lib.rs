//! hoptrace proxy-wasm glue.
