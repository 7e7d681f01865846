//! Where the things under test live: the Envoy binary and the built `.wasm` modules. A missing one is an
//! error that names the exact command that makes it, so a failing test tells the reader what to run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Environment variable naming the Envoy binary (set by the Makefile).
pub const ENVOY_ENV: &str = "HOPTRACE_ENVOY";
/// Environment variable naming the directory that holds `hoptrace.wasm` (set by the Makefile).
pub const WASM_DIR_ENV: &str = "HOPTRACE_WASM_DIR";
/// Envoy inside the venv that `make envoy` creates, relative to the workspace root.
pub const VENV_ENVOY: &str = ".venv/lib/python3.11/site-packages/envoy/_bin/envoy";
/// Where `make wasm` leaves the modules, relative to the workspace root.
pub const RELEASE_WASM_DIR: &str = "target/wasm32-wasip1/release";
/// The filter module's file name.
pub const HOPTRACE_WASM: &str = "hoptrace.wasm";

/// The workspace root: this crate lives in `<root>/tests`.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The Envoy binary: `$HOPTRACE_ENVOY`, else the one `make envoy` installs.
pub fn envoy_binary() -> Result<PathBuf> {
    let path = match std::env::var_os(ENVOY_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => venv_envoy(),
    };
    if !path.is_file() {
        bail!(
            "Envoy not found at {}: run `make envoy` in {} (or set {ENVOY_ENV})",
            path.display(),
            workspace_root().display()
        );
    }
    Ok(path)
}

/// Envoy in the venv: the Python 3.11 path `make envoy` gives on Debian 12, else whichever
/// `python3.*` the venv was made with.
fn venv_envoy() -> PathBuf {
    let root = workspace_root();
    let default = root.join(VENV_ENVOY);
    if default.is_file() {
        return default;
    }
    let found = std::fs::read_dir(root.join(".venv/lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("site-packages/envoy/_bin/envoy"))
        .find(|candidate| candidate.is_file());
    found.unwrap_or(default)
}

/// A built module by file name (`hoptrace.wasm`): in `$HOPTRACE_WASM_DIR`, else the release dir.
pub fn wasm_module(file_name: &str) -> Result<PathBuf> {
    let dir = match std::env::var_os(WASM_DIR_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join(RELEASE_WASM_DIR),
    };
    let path = dir.join(file_name);
    if !path.is_file() {
        bail!(
            "{file_name} not found at {}: run `make wasm` in {} (or set {WASM_DIR_ENV})",
            path.display(),
            workspace_root().display()
        );
    }
    Ok(path)
}

/// `hoptrace.wasm`, or an error naming `make wasm`.
pub fn hoptrace_wasm() -> Result<PathBuf> {
    wasm_module(HOPTRACE_WASM)
}
