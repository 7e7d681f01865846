//! Host metrics: defined once per VM, updated from `on_tick` with the deltas the core counted.
//!
//! Envoy shows them under `/stats` as `wasmcustom.<name>`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// A defined host metric and the last value pushed to it.
struct Metric {
    id: u32,
    kind: MetricType,
    pushed: u64,
}

/// The filter's metrics, by name.
#[derive(Default)]
pub struct HostMetrics {
    metrics: Vec<(&'static str, Metric)>,
}

impl HostMetrics {
    /// Bring the host in line with `values` (name, is_gauge, current value): counters get the
    /// increment since the last push, gauges the value. Metrics are defined on first use.
    pub fn push(&mut self, values: &[(&'static str, bool, u64)]) {
        for &(name, gauge, value) in values {
            let kind = if gauge {
                MetricType::Gauge
            } else {
                MetricType::Counter
            };
            let pos = match self.metrics.iter().position(|(n, _)| *n == name) {
                Some(p) => p,
                None => match hostcalls::define_metric(kind, name) {
                    Ok(id) => {
                        self.metrics.push((
                            name,
                            Metric {
                                id,
                                kind,
                                pushed: 0,
                            },
                        ));
                        self.metrics.len() - 1
                    }
                    Err(_) => continue,
                },
            };
            let Some((_, m)) = self.metrics.get_mut(pos) else {
                continue;
            };
            if value == m.pushed {
                continue;
            }
            let ok = match m.kind {
                MetricType::Gauge => hostcalls::record_metric(m.id, value).is_ok(),
                _ => {
                    let delta = i64::try_from(value.saturating_sub(m.pushed)).unwrap_or(i64::MAX);
                    hostcalls::increment_metric(m.id, delta).is_ok()
                }
            };
            if ok {
                m.pushed = value;
            }
        }
    }
}
