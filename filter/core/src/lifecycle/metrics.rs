//! Keeping the host's metrics in line with the core's values: defined on first use, then moved by
//! the change since the last push.

use crate::export::MetricKind;
use std::rc::Rc;

/// A metric's name as the core hands it over on every tick: the fixed names are `&'static str`,
/// the names made from the configuration (one per named sampling rule) are shared `Rc<str>`. Each
/// tick hands over the same values, so telling them apart by where they point is enough, and
/// costs no comparison of bytes.
pub trait MetricName: Clone {
    /// The name as text.
    fn as_str(&self) -> &str;
    /// Whether `other` is the same name.
    fn same(&self, other: &Self) -> bool;
}

impl MetricName for &'static str {
    fn as_str(&self) -> &str {
        self
    }
    fn same(&self, other: &Self) -> bool {
        std::ptr::eq(*self, *other) || self == other
    }
}

impl MetricName for Rc<str> {
    fn as_str(&self) -> &str {
        self
    }
    fn same(&self, other: &Self) -> bool {
        Rc::ptr_eq(self, other) || self == other
    }
}

/// The host's metric calls (`proxy_define_metric`, `proxy_increment_metric`).
pub trait MetricHost {
    /// Define a metric: its id, or `None` if the host refused.
    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Option<u32>;
    /// Add `delta` to metric `id`; whether the host took it.
    fn increment_metric(&mut self, id: u32, delta: i64) -> bool;
}

/// A defined host metric and the last value pushed to it.
#[derive(Debug)]
struct Metric<N> {
    name: N,
    id: u32,
    pushed: u64,
}

/// The host side of the core's metrics, one slot per value in the order the core lists them.
#[derive(Debug)]
pub struct HostMetrics<N = &'static str> {
    metrics: Vec<Option<Metric<N>>>,
}

impl<N> Default for HostMetrics<N> {
    fn default() -> Self {
        HostMetrics {
            metrics: Vec::new(),
        }
    }
}

impl<N: MetricName> HostMetrics<N> {
    /// Bring the host in line with `values` (name, kind, current value). Counters and gauges both
    /// get the change since the last push: every VM defines the same metric and Envoy keeps one
    /// stat per name, so adding each VM's change (a gauge's may be negative) makes the stat the sum
    /// over the VMs, where recording a gauge's value would let the last VM to write win. The core
    /// lists the same names in the same order on every tick, so each value finds its metric by
    /// position rather than by comparing names, which would cost an idle VM most of its tick; a
    /// slot whose name differs is defined again.
    pub fn push(&mut self, host: &mut impl MetricHost, values: &[(N, MetricKind, u64)]) {
        if self.metrics.len() < values.len() {
            self.metrics.resize_with(values.len(), || None);
        }
        for (slot, (name, kind, value)) in self.metrics.iter_mut().zip(values) {
            let (kind, value) = (*kind, *value);
            if slot.as_ref().is_none_or(|m| !m.name.same(name)) {
                let Some(id) = host.define_metric(kind, name.as_str()) else {
                    continue;
                };
                *slot = Some(Metric {
                    name: name.clone(),
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
    fn names_made_at_configure_time_are_defined_once_and_moved_by_their_change() {
        let mut stats = Stats::default();
        let mut vm = HostMetrics::<Rc<str>>::default();
        let name: Rc<str> = Rc::from("hoptrace.requests.sampled.checkout");
        vm.push(&mut stats, &[(name.clone(), MetricKind::Counter, 3)]);
        vm.push(&mut stats, &[(name.clone(), MetricKind::Counter, 5)]);
        assert_eq!(stats.value("hoptrace.requests.sampled.checkout"), 5);
        assert_eq!(stats.defines, 1);
        let renamed: Rc<str> = Rc::from("hoptrace.requests.sampled.search");
        vm.push(&mut stats, &[(renamed, MetricKind::Counter, 1)]);
        assert_eq!(stats.value("hoptrace.requests.sampled.search"), 1);
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
