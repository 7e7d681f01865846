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
    /// Bring the host in line with `values` (name, is_gauge, current value): counters and gauges
    /// both get the change since the last push (gauges may go down), so Envoy's one stat per name
    /// sums the VMs. Metrics are defined on first use.
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
                // Every VM defines the same gauge and Envoy keeps one stat per name: add this VM's
                // change, so the gauge is the sum over the VMs. Recording the value would let the
                // last VM to write win, and the accounting identity would miss the others' queues.
                MetricType::Gauge => {
                    let delta = i128::from(value) - i128::from(m.pushed);
                    let delta =
                        i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
                    hostcalls::increment_metric(m.id, delta).is_ok()
                }
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
