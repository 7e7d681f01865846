//! Metrics as Envoy's wasm `Context` keeps them (`defineMetric`, `incrementMetric`, ...).
//!
//! Envoy rules kept here: a counter only grows (`increment` by ≤ 0 is `BAD_ARGUMENT`, `record` adds),
//! a gauge is set by `record` and moved either way by `increment`, a histogram records values and
//! cannot be read back by the guest (`get_metric` is `BAD_ARGUMENT`). Defining a name again gives the
//! same metric. The metric type lives in the low bits of the id, as in Envoy.

use std::collections::{BTreeMap, VecDeque};

use crate::abi::{MetricType, Status};
use crate::limits::MAX_HISTOGRAM_VALUES;

/// Bits of a metric id that carry its type.
const TYPE_BITS: u32 = 2;

/// What kind of metric a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    /// Only grows.
    Counter,
    /// Set or moved either way.
    Gauge,
    /// Recorded values.
    Histogram,
}

impl From<MetricType> for MetricKind {
    fn from(value: MetricType) -> Self {
        match value {
            MetricType::Counter => Self::Counter,
            MetricType::Gauge => Self::Gauge,
            MetricType::Histogram => Self::Histogram,
        }
    }
}

/// A histogram's recorded values: exact count and sum, the last values kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// How many values were recorded.
    pub count: u64,
    /// Their sum (wrapping).
    pub sum: u64,
    /// The most recent values, at most [`MAX_HISTOGRAM_VALUES`].
    pub recent: VecDeque<u64>,
}

/// One metric's state.
#[derive(Clone, Debug)]
enum Value {
    Counter(u64),
    Gauge(i64),
    Histogram(Histogram),
}

/// Every metric the guest defined, by name and by id.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    by_name: BTreeMap<(MetricKind, String), u32>,
    by_id: BTreeMap<u32, (String, Value)>,
    next_seq: u32,
}

impl Metrics {
    /// `proxy_define_metric`: the id of `name`, created at zero the first time.
    pub fn define(&mut self, kind: MetricKind, name: &str) -> u32 {
        if let Some(id) = self.by_name.get(&(kind, name.to_string())) {
            return *id;
        }
        self.next_seq += 1;
        let tag = match kind {
            MetricKind::Counter => 0,
            MetricKind::Gauge => 1,
            MetricKind::Histogram => 2,
        };
        let id = (self.next_seq << TYPE_BITS) | tag;
        let value = match kind {
            MetricKind::Counter => Value::Counter(0),
            MetricKind::Gauge => Value::Gauge(0),
            MetricKind::Histogram => Value::Histogram(Histogram::default()),
        };
        self.by_name.insert((kind, name.to_string()), id);
        self.by_id.insert(id, (name.to_string(), value));
        id
    }

    /// `proxy_increment_metric`.
    pub fn increment(&mut self, id: u32, delta: i64) -> Result<(), Status> {
        let (_, value) = self.by_id.get_mut(&id).ok_or(Status::NotFound)?;
        match value {
            Value::Counter(v) if delta > 0 => *v = v.wrapping_add(delta.unsigned_abs()),
            Value::Counter(_) | Value::Histogram(_) => return Err(Status::BadArgument),
            Value::Gauge(v) => *v = v.wrapping_add(delta),
        }
        Ok(())
    }

    /// `proxy_record_metric`.
    pub fn record(&mut self, id: u32, recorded: u64) -> Result<(), Status> {
        let (_, value) = self.by_id.get_mut(&id).ok_or(Status::NotFound)?;
        match value {
            Value::Counter(v) => *v = v.wrapping_add(recorded),
            Value::Gauge(v) => *v = recorded as i64,
            Value::Histogram(h) => {
                h.count += 1;
                h.sum = h.sum.wrapping_add(recorded);
                if h.recent.len() == MAX_HISTOGRAM_VALUES {
                    h.recent.pop_front();
                }
                h.recent.push_back(recorded);
            }
        }
        Ok(())
    }

    /// `proxy_get_metric`.
    pub fn get_by_id(&self, id: u32) -> Result<u64, Status> {
        match self.by_id.get(&id) {
            None => Err(Status::NotFound),
            Some((_, Value::Counter(v))) => Ok(*v),
            Some((_, Value::Gauge(v))) => Ok(*v as u64),
            Some((_, Value::Histogram(_))) => Err(Status::BadArgument),
        }
    }

    /// A counter's or gauge's value by name (a gauge below zero reads as Envoy's wrapped `u64`).
    pub fn value(&self, name: &str) -> Option<u64> {
        [MetricKind::Counter, MetricKind::Gauge]
            .into_iter()
            .find_map(|kind| self.by_name.get(&(kind, name.to_string())))
            .and_then(|id| self.get_by_id(*id).ok())
    }

    /// A histogram by name.
    pub fn histogram(&self, name: &str) -> Option<&Histogram> {
        let id = self
            .by_name
            .get(&(MetricKind::Histogram, name.to_string()))?;
        match self.by_id.get(id) {
            Some((_, Value::Histogram(h))) => Some(h),
            _ => None,
        }
    }

    /// Every counter and gauge as `(name, kind, value)`, sorted by name.
    pub fn snapshot(&self) -> Vec<(String, MetricKind, u64)> {
        let mut out: Vec<_> = self
            .by_name
            .iter()
            .filter(|((kind, _), _)| *kind != MetricKind::Histogram)
            .filter_map(|((kind, name), id)| {
                self.get_by_id(*id).ok().map(|v| (name.clone(), *kind, v))
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_grow_and_record_adds() {
        let mut m = Metrics::default();
        let c = m.define(MetricKind::Counter, "hoptrace.requests");
        assert_eq!(m.define(MetricKind::Counter, "hoptrace.requests"), c);
        m.increment(c, 2).unwrap();
        assert_eq!(m.increment(c, 0), Err(Status::BadArgument));
        assert_eq!(m.increment(c, -1), Err(Status::BadArgument));
        m.record(c, 3).unwrap();
        assert_eq!(m.value("hoptrace.requests"), Some(5));
        assert_eq!(m.increment(c + 4, 1), Err(Status::NotFound));
    }

    #[test]
    fn gauges_move_both_ways_and_histograms_are_write_only() {
        let mut m = Metrics::default();
        let g = m.define(MetricKind::Gauge, "hoptrace.queue.spans");
        m.record(g, 10).unwrap();
        m.increment(g, -3).unwrap();
        assert_eq!(m.get_by_id(g), Ok(7));
        let h = m.define(MetricKind::Histogram, "latency");
        m.record(h, 5).unwrap();
        m.record(h, 7).unwrap();
        assert_eq!(m.get_by_id(h), Err(Status::BadArgument));
        assert_eq!(
            m.histogram("latency").map(|h| (h.count, h.sum)),
            Some((2, 12))
        );
        assert_eq!(
            m.snapshot(),
            vec![("hoptrace.queue.spans".into(), MetricKind::Gauge, 7)]
        );
    }
}
