//! The shared propagation case table (tests/cases/propagation.json) through one real Envoy: a
//! gateway listener per distinct plugin configuration, every row's request sent through its
//! listener, and what the echo upstream received checked by the same checker as the native run
//! (filter/core/tests/cases.rs) and the shim run (host-shim/tests/shim/hoptrace_cases.rs).

// Test helpers fail the test by panicking, like the #[test] fns clippy.toml already allows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../cases/check.rs"]
mod check;

use hoptrace_e2e::{Envoy, EnvoyConfig, Listener, Request, Upstream};

const TABLE: &str = include_str!("../cases/propagation.json");

#[test]
fn every_case_through_a_real_envoy() {
    let cases = check::load(TABLE);
    let upstream = Upstream::start("echo").unwrap();
    let mut configs: Vec<&str> = cases.iter().map(|c| c.config.as_str()).collect();
    configs.sort_unstable();
    configs.dedup();
    let listener = |config: &str| {
        let i = configs.iter().position(|c| *c == config).unwrap();
        format!("c{i}")
    };
    let envoy_config = configs.iter().fold(EnvoyConfig::new(), |cfg, plugin| {
        cfg.listener(Listener::gateway(&listener(plugin), upstream.port()).plugin(plugin))
    });
    let envoy = Envoy::start(&envoy_config).unwrap_or_else(|e| panic!("{e}"));

    check::run_all(&cases, |case| {
        upstream.clear();
        let request = case
            .request
            .iter()
            .fold(Request::get("/cases"), |r, (k, v)| r.header(k, v));
        let response = request
            .send(envoy.port(&listener(&case.config)))
            .map_err(|e| format!("{e:#}"))?;
        if response.status != 200 {
            return Err(format!("status {}: {}", response.status, response.text()));
        }
        let seen = upstream.last().ok_or("the upstream got nothing")?;
        Ok::<_, String>(seen.head.headers)
    });
}
