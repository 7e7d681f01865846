//! hoptrace's span accounting as Envoy's `/stats` shows it (`wasmcustom.hoptrace.*`, summed over every
//! VM): spans recorded (`spans.sampled + spans.kept.error + spans.kept.slow`) `= spans.exported +
//! Σ spans.dropped.* + queue.spans`, at every moment, not just at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::Envoy;

/// The counters and gauges that the identity is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounting {
    /// `hoptrace.requests`.
    pub requests: u64,
    /// `hoptrace.spans.sampled`.
    pub sampled: u64,
    /// `hoptrace.spans.kept.error`.
    pub kept_error: u64,
    /// `hoptrace.spans.kept.slow`.
    pub kept_slow: u64,
    /// `hoptrace.spans.exported`.
    pub exported: u64,
    /// `hoptrace.spans.dropped.<reason>`, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// `hoptrace.queue.spans`.
    pub queued: u64,
    /// `hoptrace.exports.<outcome>`, by outcome.
    pub exports: BTreeMap<String, u64>,
}

impl Accounting {
    /// Reads the numbers from stats with the `wasmcustom.hoptrace.` prefix already removed.
    pub fn from_stats(stats: &BTreeMap<String, u64>) -> Accounting {
        let get = |name: &str| stats.get(name).copied().unwrap_or(0);
        let under = |prefix: &str| {
            stats
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), *v)))
                .collect()
        };
        Accounting {
            requests: get("requests"),
            sampled: get("spans.sampled"),
            kept_error: get("spans.kept.error"),
            kept_slow: get("spans.kept.slow"),
            exported: get("spans.exported"),
            dropped: under("spans.dropped."),
            queued: get("queue.spans"),
            exports: under("exports."),
        }
    }

    /// Reads them from a running Envoy.
    pub fn read(envoy: &Envoy) -> Result<Accounting> {
        Ok(Accounting::from_stats(&envoy.hoptrace_stats()?))
    }

    /// Spans dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// A dropped-spans counter by reason (`queue_full`, `too_large`, `export_failed`, `rejected`).
    pub fn dropped(&self, reason: &str) -> u64 {
        self.dropped.get(reason).copied().unwrap_or(0)
    }

    /// Spans recorded: head-sampled and kept.
    pub fn recorded(&self) -> u64 {
        self.sampled + self.kept_error + self.kept_slow
    }

    /// Whether recorded = exported + dropped + queued.
    pub fn balanced(&self) -> bool {
        self.recorded() == self.exported + self.dropped_total() + self.queued
    }

    /// Whether nothing is left to export and the identity holds.
    pub fn settled(&self) -> bool {
        self.queued == 0 && self.balanced()
    }
}

/// Polls Envoy's stats until `done` holds or `timeout` passes; returns the last reading.
pub fn wait_for(
    envoy: &Envoy,
    timeout: Duration,
    done: impl Fn(&Accounting) -> bool,
) -> Result<Accounting> {
    let deadline = Instant::now() + timeout;
    loop {
        let now = Accounting::read(envoy)?;
        if done(&now) || Instant::now() > deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_over_every_drop_reason() {
        let stats: BTreeMap<String, u64> = [
            ("requests", 10),
            ("spans.sampled", 20),
            ("spans.exported", 15),
            ("spans.dropped.queue_full", 2),
            ("spans.dropped.rejected", 1),
            ("queue.spans", 2),
            ("queue.bytes", 300),
            ("exports.ok", 3),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let a = Accounting::from_stats(&stats);
        assert_eq!(a.dropped_total(), 3);
        assert!(a.balanced());
        assert!(!a.settled());
        assert_eq!(a.exports["ok"], 3);
    }
}
