//! Host metrics: defined once per VM, updated from `on_tick` with the deltas the core counted.
//!
//! Envoy shows them under `/stats` as `wasmcustom.<name>`.

use hoptrace_core::export::MetricKind;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// A defined host metric and the last value pushed to it.
struct Metric {
    id: u32,
    pushed: u64,
}

/// The filter's metrics, by name.
#[derive(Default)]
pub struct HostMetrics {
    metrics: Vec<(&'static str, Metric)>,
}

impl HostMetrics {
    /// Bring the host in line with the core's `values` (name, kind, current value): counters and
    /// gauges both get the change since the last push, so Envoy's one stat per name sums the VMs.
    /// Metrics are defined on first use.
    pub fn push(&mut self, values: &[(&'static str, MetricKind, u64)]) {
        for &(name, kind, value) in values {
            let pos = match self.metrics.iter().position(|(n, _)| *n == name) {
                Some(p) => p,
                None => {
                    let host_kind = match kind {
                        MetricKind::Gauge => MetricType::Gauge,
                        MetricKind::Counter => MetricType::Counter,
                    };
                    match hostcalls::define_metric(host_kind, name) {
                        Ok(id) => {
                            self.metrics.push((name, Metric { id, pushed: 0 }));
                            self.metrics.len() - 1
                        }
                        Err(_) => continue,
                    }
                }
            };
            let Some((_, m)) = self.metrics.get_mut(pos) else {
                continue;
            };
            if value == m.pushed {
                continue;
            }
            // Every VM defines the same metric and Envoy keeps one stat per name: add this VM's
            // change (a gauge's may be negative), so the stat is the sum over the VMs. Recording a
            // gauge's value would let the last VM to write win, and the accounting identity would
            // miss the others' queues.
            let delta = i128::from(value) - i128::from(m.pushed);
            let delta = i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
            if hostcalls::increment_metric(m.id, delta).is_ok() {
                m.pushed = value;
            }
        }
    }
}
