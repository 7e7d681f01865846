//! Envoy's admin interface, read over plain HTTP: readiness, the ports listeners actually bound, and
//! `/stats` (the filter's `wasmcustom.hoptrace.*` counters and gauges). Envoy keeps one stat per name,
//! so a metric that every VM (one per worker plus the main thread) defines shows once, summed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::client::Request;

/// Prefix Envoy gives proxy-wasm metrics.
pub const WASM_CUSTOM_PREFIX: &str = "wasmcustom.";
/// Prefix of hoptrace's own metrics in `/stats`.
pub const HOPTRACE_PREFIX: &str = "wasmcustom.hoptrace.";

const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// GET an admin path; the body as text when the status is 200.
pub fn get(admin_port: u16, path: &str) -> Result<String> {
    let response = Request::get(path).timeout(ADMIN_TIMEOUT).send(admin_port)?;
    if response.status != 200 {
        bail!(
            "admin {path}: status {} {}",
            response.status,
            response.text()
        );
    }
    Ok(response.text())
}

/// Whether `/ready` answers 200 (`LIVE`).
pub fn ready(admin_port: u16) -> bool {
    Request::get("/ready")
        .timeout(Duration::from_secs(1))
        .send(admin_port)
        .is_ok_and(|r| r.status == 200)
}

/// The port each listener bound, by listener name.
pub fn listener_ports(admin_port: u16) -> Result<BTreeMap<String, u16>> {
    let body = get(admin_port, "/listeners?format=json")?;
    let value: Value = serde_json::from_str(&body).context("admin /listeners JSON")?;
    let statuses = value
        .get("listener_statuses")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no listener_statuses in {body}"))?;
    let mut ports = BTreeMap::new();
    for status in statuses {
        let name = status.get("name").and_then(Value::as_str);
        let port = status
            .pointer("/local_address/socket_address/port_value")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok());
        if let (Some(name), Some(port)) = (name, port) {
            ports.insert(name.to_string(), port);
        }
    }
    Ok(ports)
}

/// Every integer stat whose name starts with `prefix`, from `/stats` text (`name: value` lines;
/// histogram lines, which are not integers, are skipped).
pub fn stats(admin_port: u16, prefix: &str) -> Result<BTreeMap<String, u64>> {
    let body = get(admin_port, "/stats")?;
    Ok(parse_stats(&body, prefix))
}

/// Parses `/stats` text, keeping integer stats under `prefix`.
pub fn parse_stats(body: &str, prefix: &str) -> BTreeMap<String, u64> {
    body.lines()
        .filter_map(|line| line.split_once(": "))
        .filter(|(name, _)| name.starts_with(prefix))
        .filter_map(|(name, value)| Some((name.to_string(), value.trim().parse::<u64>().ok()?)))
        .collect()
}

/// hoptrace's metrics with the `wasmcustom.hoptrace.` prefix removed (`spans.sampled` → n).
pub fn hoptrace_stats(admin_port: u16) -> Result<BTreeMap<String, u64>> {
    Ok(stats(admin_port, HOPTRACE_PREFIX)?
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(HOPTRACE_PREFIX)?.to_string(), v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters_and_gauges_and_skips_histograms() {
        let body = "cluster.x.upstream_rq: 3\n\
                    wasmcustom.hoptrace.requests: 12\n\
                    wasmcustom.hoptrace.queue.spans: 0\n\
                    wasmcustom.hoptrace.lat: P0(nan,1) P25(nan,2)\n";
        let stats = parse_stats(body, HOPTRACE_PREFIX);
        assert_eq!(stats.len(), 2);
        assert_eq!(stats["wasmcustom.hoptrace.requests"], 12);
        assert_eq!(stats["wasmcustom.hoptrace.queue.spans"], 0);
    }
}
