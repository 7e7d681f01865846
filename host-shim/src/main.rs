//! `hoptrace-shim`: run a proxy-wasm filter outside Envoy, in the shim's fake Envoy.
//!
//! `replay` shows what a filter does to requests and what it would export; `bench` measures the
//! cost per request next to a baseline module. `hoptrace-shim help` explains both.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hoptrace-shim: {error:#}");
            ExitCode::FAILURE
        }
    }
}
