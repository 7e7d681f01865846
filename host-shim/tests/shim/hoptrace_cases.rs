//! The shared propagation case table (tests/cases/propagation.json) through the shim against the
//! built hoptrace.wasm: the same rows and the same checker as the native run
//! (filter/core/tests/cases.rs), so the .wasm and the core cannot drift apart unnoticed.

use hoptrace_shim::{Action, Error, Host, HostOptions};

use crate::common;

#[path = "../../../tests/cases/check.rs"]
pub mod check;

const TABLE: &str = include_str!("../../../tests/cases/propagation.json");

/// Loads hoptrace.wasm with the row's config, sends the row's request, and returns the header
/// lines the upstream received. The request is ended (on_log runs) so a sampled row also records
/// its spans without trapping.
fn upstream(case: &check::Case, seed: u64) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let options = HostOptions {
        random_seed: seed,
        clusters: vec!["otlp_collector".into()],
        ..HostOptions::default()
    };
    let mut host = Host::load_with(common::hoptrace(), &case.config, options)?;
    let extra: Vec<(&str, &str)> = case
        .request
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut req = host.request(common::get("/cases", &extra))?;
    assert_eq!(
        req.request_action(),
        Some(Action::Continue),
        "{}",
        case.name
    );
    let lines = req
        .upstream_headers()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_vec()))
        .collect();
    req.respond(200, [("content-length", "0")])?;
    req.end()?;
    Ok(lines)
}

#[test]
fn every_case_through_the_wasm() {
    let cases = check::load(TABLE);
    let mut seed = 0;
    check::run_all(&cases, |case| {
        seed += 1;
        upstream(case, seed)
    });
}
