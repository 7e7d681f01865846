//! The ready-to-copy Envoy configs in `envoy/` are tested artefacts: each bootstrap there
//! loads with `envoy --mode validate` and the built `hoptrace.wasm`, which in Envoy 1.40 also runs the
//! plugin's on_configure on the embedded plugin config, so an example cannot drift from what the
//! filter accepts.

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows: a panic
// (not an Err return) is what makes a dropped Envoy print its log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use hoptrace_e2e::envoy::validate;
use hoptrace_e2e::paths;
use hoptrace_e2e::tempdir::TempDir;

/// Where the examples tell users to put the module; replaced by the built one here.
const EXAMPLE_WASM_PATH: &str = "/etc/envoy/hoptrace.wasm";

/// Envoy bootstraps in `envoy/` (Kubernetes manifests live there too and are not bootstraps).
fn bootstraps() -> Vec<PathBuf> {
    let dir = paths::workspace_root().join("envoy");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("static_resources:")
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_envoy_bootstrap_in_envoy_dir_validates_with_the_built_wasm() {
    let wasm = paths::hoptrace_wasm().unwrap();
    let configs = bootstraps();
    assert!(
        configs.len() >= 2,
        "expected the gateway and sidecar configs, found {configs:?}"
    );
    let dir = TempDir::new("envoy-dir").unwrap();
    for config in configs {
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(
            text.contains(EXAMPLE_WASM_PATH),
            "{}: the example should load {EXAMPLE_WASM_PATH}",
            config.display()
        );
        let local = dir.path().join(config.file_name().unwrap());
        std::fs::write(
            &local,
            text.replace(EXAMPLE_WASM_PATH, &wasm.display().to_string()),
        )
        .unwrap();
        let (status, log) = validate(&local).unwrap();
        assert!(
            status.success(),
            "{} does not validate ({status}):\n{}",
            config.display(),
            hoptrace_e2e::envoy::tail(&log, 30)
        );
    }
}
