//! `replay`: requests through the filter, then the exports it sent, all as one JSON document.

use std::time::Duration;

use anyhow::{Context, Result};
use hoptrace_shim::{otlp, Callout, CalloutResponse, HeaderMap, Host, HostOptions};
use serde_json::{json, Value};

use super::args::ReplayArgs;

/// The cluster hoptrace exports to unless its configuration names another.
const DEFAULT_COLLECTOR: &str = "otlp_collector";

/// Virtual time between two looks at pending exports while flushing.
const FLUSH_STEP: Duration = Duration::from_secs(1);

/// Header lines as `"name: value"` strings, in order (repeated names stay separate lines).
fn header_pairs(map: &HeaderMap) -> Value {
    map.iter()
        .map(|(k, v)| json!(format!("{k}: {}", String::from_utf8_lossy(v))))
        .collect()
}

/// Pretty JSON of `sections` in the order given (serde_json's map would sort the keys).
fn ordered_json(sections: &[(&str, Value)]) -> Result<String> {
    let mut out = String::from("{\n");
    for (i, (key, value)) in sections.iter().enumerate() {
        let body = serde_json::to_string_pretty(value)?.replace('\n', "\n  ");
        let comma = if i + 1 < sections.len() { "," } else { "" };
        out.push_str(&format!("  {}: {body}{comma}\n", json!(key)));
    }
    out.push('}');
    Ok(out)
}

/// The configuration's `collector.cluster`, if it has one.
fn configured_cluster(config: &str) -> Option<String> {
    let value: Value = serde_json::from_str(config).ok()?;
    value
        .get("collector")?
        .get("cluster")?
        .as_str()
        .map(str::to_string)
}

/// A callout as JSON, its body decoded as OTLP when it is one.
fn export_json(callout: &Callout) -> Value {
    let (key, decoded) = match otlp::decode_callout(callout) {
        Ok(request) => (
            "otlp",
            serde_json::to_value(&request).unwrap_or(Value::Null),
        ),
        Err(error) => ("otlp_error", json!(error.to_string())),
    };
    json!({
        "at_ms": u64::try_from(callout.dispatched_at.as_millis()).unwrap_or(u64::MAX),
        "cluster": callout.cluster,
        "headers": header_pairs(&callout.headers),
        "body_bytes": callout.body.len(),
        key: decoded,
    })
}

pub fn run(args: &ReplayArgs) -> Result<()> {
    let mut clusters = vec![DEFAULT_COLLECTOR.to_string()];
    clusters.extend(configured_cluster(&args.config));
    clusters.extend(args.clusters.iter().cloned());
    let options = HostOptions {
        clusters,
        random_seed: args.seed,
        foreign_functions: args.foreign_functions,
        ..Default::default()
    };
    let mut host = Host::load_with(&args.wasm, &args.config, options)
        .with_context(|| format!("loading {}", args.wasm.display()))?;
    for (path, value) in &args.properties {
        host.set_property(path, value.clone());
    }

    let mut requests = Vec::new();
    let mut exports = Vec::new();
    for spec in &args.requests {
        let mut req = host.request(spec.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let upstream = header_pairs(req.upstream_headers());
        let local = req
            .local_response()
            .map(|l| json!({"status": l.status, "details": l.details}));
        if local.is_none() {
            req.respond(spec.status, [("content-length", "0")])?;
        }
        let report = req.end_after(Duration::from_millis(spec.duration_ms))?;
        let mut calls = serde_json::Map::new();
        calls.insert("total".into(), json!(report.total_host_calls()));
        for (callback, n) in report.host_calls.iter().filter(|(_, n)| *n > 0) {
            let name = callback.trim_start_matches("proxy_on_").to_string();
            let sum = calls.get(&name).and_then(Value::as_u64).unwrap_or(0) + u64::from(*n);
            calls.insert(name, json!(sum));
        }
        requests.push(json!({
            "request": spec.text,
            "upstream_headers": upstream,
            "response_status": spec.status,
            "local_response": local,
            "host_calls": calls,
        }));
        answer_exports(&mut host, args.collector_status, &mut exports)?;
    }

    let mut flushed = Duration::ZERO;
    while flushed < Duration::from_secs(args.flush_secs) {
        host.advance(FLUSH_STEP)?;
        flushed += FLUSH_STEP;
        answer_exports(&mut host, args.collector_status, &mut exports)?;
    }

    let metrics: serde_json::Map<String, Value> = host
        .metrics()
        .into_iter()
        .map(|(name, _, value)| (name, json!(value)))
        .collect();
    let logs: Vec<String> = host.logs().map(ToString::to_string).collect();
    let out = ordered_json(&[
        ("requests", json!(requests)),
        ("exports", json!(exports)),
        ("metrics", json!(metrics)),
        ("logs", json!(logs)),
    ])?;
    println!("{out}");
    Ok(())
}

/// Records and answers every pending callout with `status`.
fn answer_exports(host: &mut Host, status: u16, exports: &mut Vec<Value>) -> Result<()> {
    for callout in host.callouts() {
        exports.push(export_json(&callout));
        host.answer(callout.id, CalloutResponse::new(status))?;
    }
    Ok(())
}
