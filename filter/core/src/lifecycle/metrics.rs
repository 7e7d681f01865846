//! Keeping the host's metrics in line with the core's values: defined on first use, then moved by
//! the change since the last push.

use crate::export::MetricKind;

/// The host's metric calls (`proxy_define_metric`, `proxy_increment_metric`).
pub trait MetricHost {
    /// Define a metric: its id, or `None` if the host refused.
    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Option<u32>;
    /// Add `delta` to metric `id`; whether the host took it.
    fn increment_metric(&mut self, id: u32, delta: i64) -> bool;
}

/// A defined host metric and the last value pushed to it.
#[derive(Debug)]
struct Metric {
    name: &'static str,
    id: u32,
    pushed: u64,
}

/// The host side of the core's metrics, one slot per value in the order the core lists them.
#[derive(Debug, Default)]
pub struct HostMetrics {
    metrics: Vec<Option<Metric>>,
}

impl HostMetrics {
    /// Bring the host in line with `values` (name, kind, current value). Counters and gauges both
    /// get the change since the last push: every VM defines the same metric and Envoy keeps one
    /// stat per name, so adding each VM's change (a gauge's may be negative) makes the stat the sum
    /// over the VMs, where recording a gauge's value would let the last VM to write win. The core
    /// lists the same names in the same order on every tick, so each value finds its metric by
    /// position rather than by comparing names, which would cost an idle VM most of its tick; a
    /// slot whose name differs is defined again.
    pub fn push(&mut self, host: &mut impl MetricHost, values: &[(&'static str, MetricKind, u64)]) {
        if self.metrics.len() < values.len() {
            self.metrics.resize_with(values.len(), || None);
        }
        for (slot, &(name, kind, value)) in self.metrics.iter_mut().zip(values) {
            if slot.as_ref().is_none_or(|m| !same_name(m.name, name)) {
                let Some(id) = host.define_metric(kind, name) else {
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
            let delta = i128::from(value) - i128::from(m.pushed);
            let delta = i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
            if host.increment_metric(m.id, delta) {
                m.pushed = value;
            }
        }
    }
}

/// Whether two metric names are the same: the core hands over the same `&'static str` every tick,
/// so comparing where they point settles it without a byte-by-byte comparison; other strings are
/// compared by content.
fn same_name(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A host keeping one stat per name, as Envoy does, shared by every VM that defines it.
    #[derive(Default)]
    struct Stats {
        ids: BTreeMap<String, u32>,
        values: BTreeMap<u32, i64>,
        refuse_increments: bool,
        defines: usize,
    }

    impl MetricHost for Stats {
        fn define_metric(&mut self, _kind: MetricKind, name: &str) -> Option<u32> {
            self.defines += 1;
            let next = self.ids.len() as u32;
            Some(*self.ids.entry(name.to_owned()).or_insert(next))
        }
        fn increment_metric(&mut self, id: u32, delta: i64) -> bool {
            if self.refuse_increments {
                return false;
            }
            *self.values.entry(id).or_default() += delta;
            true
        }
    }

    impl Stats {
        fn value(&self, name: &str) -> i64 {
            self.values[&self.ids[name]]
        }
    }

    #[test]
    fn the_stat_is_the_sum_over_vms_for_counters_and_gauges() {
        let mut stats = Stats::default();
        let (mut vm1, mut vm2) = (HostMetrics::default(), HostMetrics::default());
        vm1.push(
            &mut stats,
            &[("c", MetricKind::Counter, 5), ("g", MetricKind::Gauge, 10)],
        );
        vm2.push(
            &mut stats,
            &[("c", MetricKind::Counter, 2), ("g", MetricKind::Gauge, 3)],
        );
        vm1.push(
            &mut stats,
            &[("c", MetricKind::Counter, 7), ("g", MetricKind::Gauge, 4)],
        );
        assert_eq!(stats.value("c"), 9);
        assert_eq!(stats.value("g"), 7, "a gauge going down moves the sum down");
        assert_eq!(stats.defines, 4, "defined once per VM and name");
    }

    #[test]
    fn a_refused_increment_is_pushed_again_next_time() {
        let mut stats = Stats {
            refuse_increments: true,
            ..Stats::default()
        };
        let mut vm = HostMetrics::default();
        vm.push(&mut stats, &[("c", MetricKind::Counter, 5)]);
        stats.refuse_increments = false;
        vm.push(&mut stats, &[("c", MetricKind::Counter, 6)]);
        assert_eq!(stats.value("c"), 6);
    }

    #[test]
    fn a_slot_whose_name_changes_is_defined_again() {
        let mut stats = Stats::default();
        let mut vm = HostMetrics::default();
        vm.push(&mut stats, &[("a", MetricKind::Counter, 1)]);
        vm.push(&mut stats, &[("b", MetricKind::Counter, 2)]);
        assert_eq!((stats.value("a"), stats.value("b")), (1, 2));
    }
}
