//! Writes what hoptrace-core decides, natively, for the JavaScript package's tests to compare with
//! (`filter/js/test/`): the upstream headers of every row of the shared propagation table, and the
//! sampling decisions for thousands of random trace ids at several ratios. The node tests run the
//! same inputs through the built package and must get byte-identical answers.
//!
//! Output: `target/js-vectors/propagation.json` and `target/js-vectors/sampling.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../../tests/cases/check.rs"]
mod check;

use std::path::PathBuf;

use hoptrace_core::config::parse_config;
use hoptrace_core::hop::HeaderEdits;
use hoptrace_core::ids::IdGenerator;
use hoptrace_core::pipeline::Pipeline;
use hoptrace_core::propagation::HeaderLines;
use serde_json::{json, Value};

const TABLE: &str = include_str!("../../../tests/cases/propagation.json");

/// The seeds the JavaScript side passes to `create(config, { seed })`: ids must match too.
const SEEDS: [u8; 2] = [1, 2];

/// The ratios compared: the spec table's, a non-dyadic one and both ends.
const RATIOS: [f64; 9] = [
    1.0,
    0.5,
    0.25,
    0.125,
    0.1,
    0.01,
    0.001,
    1.0 / 3.0,
    0.000_001,
];

/// Random trace ids per run.
const IDS: usize = 4000;

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/js-vectors");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the upstream receives: the request with the hop's edits applied as Envoy applies them.
fn apply(request: &[(String, String)], edits: &HeaderEdits) -> Vec<(String, String)> {
    check::apply_edits(request, edits.sets(), &edits.remove)
}

#[test]
fn write_propagation_vectors() {
    let cases = check::load(TABLE);
    let mut rows = Vec::new();
    for case in &cases {
        let mut upstream = serde_json::Map::new();
        for seed in SEEDS {
            let settings = parse_config(case.config.as_bytes()).unwrap();
            let mut pipeline = Pipeline::new(settings, &[], [seed; 32]);
            let lines: Vec<(&str, &[u8])> = case
                .request
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect();
            let hop = pipeline.start(&HeaderLines::new(&lines), 0);
            let sent = apply(&case.request, &hop.edits);
            // The core's answer is right by the table's own rules before it becomes the reference.
            case.check(&sent)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            upstream.insert(seed.to_string(), json!(sent));
        }
        rows.push(json!({
            "name": case.name,
            "config": serde_json::from_str::<Value>(&case.config).unwrap(),
            "request": case.request,
            "upstream": upstream,
        }));
    }
    let doc = json!({ "about": "hoptrace-core's upstream lines per row and seed (filter/js/tests/vectors.rs)", "cases": rows });
    std::fs::write(out_dir().join("propagation.json"), doc.to_string()).unwrap();
}

#[test]
fn write_sampling_vectors() {
    // Trace ids from a fixed seed, plus the edges of the randomness range.
    let mut ids = IdGenerator::seeded(23);
    let mut trace_ids: Vec<String> = (0..IDS).map(|_| ids.trace_id().to_string()).collect();
    trace_ids.push("0af7651916cd43dd8400000000000000".into());
    trace_ids.push("0af7651916cd43dd84ffffffffffffff".into());
    trace_ids.push("4bf92f3577b34da6a3ce929d0e0e4736".into());

    let mut results = Vec::new();
    for ratio in RATIOS {
        let config = json!({ "sampler": "traceidratio", "sampler_arg": ratio }).to_string();
        let mut pipeline = Pipeline::new(parse_config(config.as_bytes()).unwrap(), &[], [9; 32]);
        let mut sampled = String::with_capacity(trace_ids.len());
        let mut th = None;
        for id in &trace_ids {
            let tp = format!("00-{id}-00f067aa0ba902b7-03");
            let lines = [("traceparent", tp.as_bytes())];
            let hop = pipeline.start(&HeaderLines::new(&lines), 0);
            sampled.push(if hop.context.sampled() { '1' } else { '0' });
            // A positive decision writes `ot=th:<T>`; a negative one writes no `th`.
            if hop.context.sampled() {
                let ts = hop.context.tracestate.clone().unwrap_or_default();
                assert!(th.is_none() || th.as_deref() == Some(ts.as_str()), "{ts}");
                th = Some(ts);
            }
        }
        results.push(json!({
            "ratio": ratio,
            "config": serde_json::from_str::<Value>(&config).unwrap(),
            "sampled": sampled,
            "tracestate": th,
        }));
    }
    let doc = json!({
        "about": "hoptrace-core's traceidratio decisions per trace id (filter/js/tests/vectors.rs): sampled[i] for ids[i]; tracestate sent on a positive decision",
        "ids": trace_ids,
        "ratios": results,
    });
    std::fs::write(out_dir().join("sampling.json"), doc.to_string()).unwrap();
}

/// Configurations the filter refuses, with the core's messages: the package must refuse them
/// with the same words.
#[test]
fn write_config_error_vectors() {
    let bad = [
        r#"{"sampler":"always_sometimes"}"#,
        r#"{"sampler_arg":2}"#,
        r#"{"batch":{"max_export_batch_size":0}}"#,
        r#"{"batch":{"max_queue_size":"many"}}"#,
        r#"{"propagation":{"extract":["tracecontext","xray"]}}"#,
        r#"{"span_kind":"sideways"}"#,
        r#"{"collector":{"encoding":"yaml"}}"#,
        r#"{"collector":{"endpointz":"http://127.0.0.1:4318"}}"#,
        r#"{"unknown_key":1}"#,
        r#"{"retry":{"initial_backoff_ms":-1}}"#,
        r#"[]"#,
        r#"{"#,
    ];
    let rows: Vec<Value> = bad
        .iter()
        .map(|config| {
            let err = parse_config(config.as_bytes()).expect_err(config);
            json!({ "config": config, "field": err.field, "message": err.to_string() })
        })
        .collect();
    std::fs::write(
        out_dir().join("config-errors.json"),
        json!({ "cases": rows }).to_string(),
    )
    .unwrap();
}
