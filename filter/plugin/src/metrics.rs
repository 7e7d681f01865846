//! Host metrics: defined once per VM, updated from `on_tick` with the deltas the core counted.
//!
//! Envoy shows them under `/stats` as `wasmcustom.<name>`.

use crate::abi::MetricType;
use crate::host;
use hoptrace_core::export::MetricKind;

/// A defined host metric and the last value pushed to it.
struct Metric {
    name: &'static str,
    id: u32,
    pushed: u64,
}

/// The filter's metrics, in the order the core lists them.
#[derive(Default)]
pub struct HostMetrics {
    /// Slot `i` holds the metric of the core's `i`-th value once the host has defined it.
    metrics: Vec<Option<Metric>>,
}

impl HostMetrics {
    /// Bring the host in line with the core's `values` (name, kind, current value): counters and
    /// gauges both get the change since the last push, so Envoy's one stat per name sums the VMs.
    /// Metrics are defined on first use. The core lists the same names in the same order on every
    /// tick, so each value finds its metric by position, not by comparing names (which cost an
    /// idle VM most of its tick); a slot whose name differs is defined again.
    pub fn push(&mut self, values: &[(&'static str, MetricKind, u64)]) {
        if self.metrics.len() < values.len() {
            self.metrics.resize_with(values.len(), || None);
        }
        for (slot, &(name, kind, value)) in self.metrics.iter_mut().zip(values) {
            if slot.as_ref().is_none_or(|m| !same_name(m.name, name)) {
                let host_kind = match kind {
                    MetricKind::Gauge => MetricType::Gauge,
                    MetricKind::Counter => MetricType::Counter,
                };
                let Some(id) = host::define_metric(host_kind, name) else {
                    continue;
                };
                *slot = Some(Metric {
                    name,
                    id,
                    pushed: 0,
                });
            }
            let Some(m) = slot.as_mut() else {
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
            if host::increment_metric(m.id, delta) {
                m.pushed = value;
            }
        }
    }
}

/// Whether two metric names are the same: the core hands over the same `&'static str` every tick,
/// so comparing where they point settles it without wasi-libc's byte-by-byte `memcmp` (~300
/// instructions a name); other strings are compared by content.
fn same_name(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}
