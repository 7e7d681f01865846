//! The shared propagation case table (tests/cases/propagation.json), run natively: each row's
//! request goes through a [`Pipeline`] as the plugin drives it, its header edits are applied to the
//! request lines the way Envoy applies them, and the result is what the upstream sees.
//!
//! The same table runs through the shim against the built .wasm (host-shim/tests/shim/
//! hoptrace_cases.rs) and through a real Envoy (tests/tests/cases.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tests/cases/check.rs"]
mod check;

use hoptrace_core::config::parse_config;
use hoptrace_core::hop::HeaderEdits;
use hoptrace_core::pipeline::Pipeline;
use hoptrace_core::propagation::HeaderLines;

const TABLE: &str = include_str!("../../../tests/cases/propagation.json");

/// What the upstream receives: the request with the hop's edits applied as Envoy applies them.
fn apply(request: &[(String, String)], edits: &HeaderEdits) -> Vec<(String, String)> {
    check::apply_edits(request, edits.sets(), &edits.remove)
}

fn upstream(case: &check::Case, seed: u8) -> Result<Vec<(String, String)>, String> {
    let settings = parse_config(case.config.as_bytes()).map_err(|e| e.to_string())?;
    let mut pipeline = Pipeline::new(settings, &[], [seed; 32]);
    let lines: Vec<(&str, &[u8])> = case
        .request
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let hop = pipeline.start(&HeaderLines::new(&lines), 0);
    Ok(apply(&case.request, &hop.edits))
}

#[test]
fn every_case_natively() {
    let cases = check::load(TABLE);
    // Two id seeds: no row may depend on which ids happen to be drawn.
    for seed in [1, 2] {
        check::run_all(&cases, |case| upstream(case, seed));
    }
}

#[test]
fn the_checker_can_fail() {
    // A run that forwards the request untouched breaks rows of every kind.
    let cases = check::load(TABLE);
    let broken = cases
        .iter()
        .filter(|c| {
            let lines: Vec<(String, Vec<u8>)> = c
                .request
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect();
            c.check(&lines).is_err()
        })
        .count();
    assert_eq!(broken, cases.len(), "every row must see the filter's work");
}
