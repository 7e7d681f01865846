//! The exporter's counters and gauges, under the metric names users and dashboards rely on.
//!
//! Accounting identity, true at every instant: spans recorded (`spans_sampled` plus the kept ones,
//! `spans_kept_error + spans_kept_slow`) = `spans_exported + dropped (all reasons) + queue_spans`,
//! where `queue_spans` includes spans waiting in the queue, in flight, and waiting for a retry.

/// proxy-wasm metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up; the plugin adds the difference since its last report.
    Counter,
    /// Set to the current value.
    Gauge,
}

/// Monotonic counters (gauges are computed from the queue, see `Exporter::metric_values`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests seen by the hop layer (`hoptrace.requests`).
    pub requests: u64,
    /// Spans of head-sampled requests offered to the queue (`hoptrace.spans.sampled`).
    pub spans_sampled: u64,
    /// Spans of unsampled requests kept because they failed (`hoptrace.spans.kept.error`),
    /// including those the keep budget then dropped.
    pub spans_kept_error: u64,
    /// Spans of unsampled requests kept because they were slow (`hoptrace.spans.kept.slow`).
    pub spans_kept_slow: u64,
    /// Spans the collector accepted (`hoptrace.spans.exported`).
    pub spans_exported: u64,
    /// New spans dropped because the queue was full (`hoptrace.spans.dropped.queue_full`).
    pub dropped_queue_full: u64,
    /// Spans larger than a queue may hold (`hoptrace.spans.dropped.too_large`).
    pub dropped_too_large: u64,
    /// Spans of batches that failed for good (`hoptrace.spans.dropped.export_failed`).
    pub dropped_export_failed: u64,
    /// Spans the collector rejected in a partial success (`hoptrace.spans.dropped.rejected`).
    pub dropped_rejected: u64,
    /// Kept spans over `keep.max_per_second` (`hoptrace.spans.dropped.keep_limit`).
    pub dropped_keep_limit: u64,
    /// Export calls answered with 2xx (`hoptrace.exports.ok`).
    pub exports_ok: u64,
    /// Export calls that failed and whose batch was dropped (`hoptrace.exports.failed`).
    pub exports_failed: u64,
    /// Export calls that failed and whose batch will be retried (`hoptrace.exports.retried`).
    pub exports_retried: u64,
    /// String attribute values cut to `limits.attribute_value_length`
    /// (`hoptrace.attributes.truncated`).
    pub attributes_truncated: u64,
    /// Spans a root told it is done (its plugin configuration replaced or removed) could not send
    /// before its drain deadline (`hoptrace.spans.dropped.shutdown`).
    pub dropped_shutdown: u64,
}

impl Counters {
    /// All dropped spans, every reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_too_large
            + self.dropped_export_failed
            + self.dropped_rejected
            + self.dropped_keep_limit
            + self.dropped_shutdown
    }

    /// Every span recorded: head-sampled and kept.
    pub fn recorded(&self) -> u64 {
        self.spans_sampled + self.spans_kept_error + self.spans_kept_slow
    }
}

/// How many metrics there are.
pub const METRIC_COUNT: usize = 17;

/// Every metric as (name, kind, value), in the order of [`METRIC_NAMES`].
pub type MetricValues = [(&'static str, MetricKind, u64); METRIC_COUNT];

/// Metric names, in the order `Exporter::metric_values` reports them.
pub const METRIC_NAMES: [&str; METRIC_COUNT] = [
    "hoptrace.requests",
    "hoptrace.spans.sampled",
    "hoptrace.spans.kept.error",
    "hoptrace.spans.kept.slow",
    "hoptrace.spans.exported",
    "hoptrace.spans.dropped.queue_full",
    "hoptrace.spans.dropped.too_large",
    "hoptrace.spans.dropped.export_failed",
    "hoptrace.spans.dropped.rejected",
    "hoptrace.spans.dropped.keep_limit",
    "hoptrace.exports.ok",
    "hoptrace.exports.failed",
    "hoptrace.exports.retried",
    "hoptrace.queue.spans",
    "hoptrace.queue.bytes",
    "hoptrace.attributes.truncated",
    "hoptrace.spans.dropped.shutdown",
];

/// The metric values: counters from `c`, the two gauges, then the attribute and shutdown counters.
pub fn metric_values(c: &Counters, queue_spans: u64, queue_bytes: u64) -> MetricValues {
    use MetricKind::{Counter, Gauge};
    let [n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, n12, n13, n14, n15, n16] = METRIC_NAMES;
    [
        (n0, Counter, c.requests),
        (n1, Counter, c.spans_sampled),
        (n2, Counter, c.spans_kept_error),
        (n3, Counter, c.spans_kept_slow),
        (n4, Counter, c.spans_exported),
        (n5, Counter, c.dropped_queue_full),
        (n6, Counter, c.dropped_too_large),
        (n7, Counter, c.dropped_export_failed),
        (n8, Counter, c.dropped_rejected),
        (n9, Counter, c.dropped_keep_limit),
        (n10, Counter, c.exports_ok),
        (n11, Counter, c.exports_failed),
        (n12, Counter, c.exports_retried),
        (n13, Gauge, queue_spans),
        (n14, Gauge, queue_bytes),
        (n15, Counter, c.attributes_truncated),
        (n16, Counter, c.dropped_shutdown),
    ]
}
