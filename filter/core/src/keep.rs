//! Keeping what the head sampler dropped: an unsampled request that fails or is slow still exports
//! this hop's spans, within a per-VM budget.
//!
//! A head sampler at a low ratio throws away most of the failures a user is hunting; a proxy sees
//! every request end, so it can keep those. Kept spans are not probability-sampled: they carry no
//! `th` (no adjusted count), `sampling.priority = 1` so downstream probabilistic samplers keep them,
//! and `hoptrace.kept` saying why. The ids a hop sends upstream are those of the spans it would
//! keep, so when every hop keeps its spans for the same failure the trace assembles whole.

use crate::config::KeepSettings;
use crate::sampler::RateLimiter;

/// Why an unsampled request's spans were kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptReason {
    /// It ended 5xx or without a response (reset, timeout, local reply for an upstream failure).
    Error,
    /// It took at least `keep.slower_than_ms`.
    Slow,
}

impl KeptReason {
    /// The `hoptrace.kept` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeptReason::Error => "error",
            KeptReason::Slow => "slow",
        }
    }
}

const NS_PER_MS: u64 = 1_000_000;

/// One VM's keep rules and budget.
#[derive(Debug, Clone)]
pub struct Keep {
    settings: KeepSettings,
    budget: RateLimiter,
}

impl Keep {
    /// The rules of `settings`, with a full budget.
    pub fn new(settings: KeepSettings) -> Self {
        // Validation bounds the rate far below f64's exact integers.
        let budget = RateLimiter::new(settings.max_per_second as f64);
        Keep { settings, budget }
    }

    /// Whether unsampled requests must be watched to their end (a start time and the status).
    pub fn enabled(&self) -> bool {
        self.settings.enabled()
    }

    /// Whether slowness is kept, so a watched request needs the clock at its start and end; with
    /// errors alone its status decides, and the clock is read only for a request that is kept.
    pub fn times_requests(&self) -> bool {
        self.settings.slower_than_ms > 0
    }

    /// Why a request with `status` (0: no response) that took `duration_ns` is kept, if it is. An
    /// error wins over slowness.
    pub fn reason(&self, status: u16, duration_ns: u64) -> Option<KeptReason> {
        if self.settings.errors && (status == 0 || status >= 500) {
            return Some(KeptReason::Error);
        }
        let slow_ns = self.settings.slower_than_ms.saturating_mul(NS_PER_MS);
        if slow_ns > 0 && duration_ns >= slow_ns {
            return Some(KeptReason::Slow);
        }
        None
    }

    /// Take one kept trace from the budget at `now_ns`; `false` when it is spent.
    pub fn admit(&mut self, now_ns: u64) -> bool {
        self.budget.try_acquire(now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(errors: bool, slower_than_ms: u64) -> Keep {
        Keep::new(KeepSettings {
            errors,
            slower_than_ms,
            max_per_second: 2,
        })
    }

    const MS: u64 = NS_PER_MS;

    /// (case, errors on, slower_than_ms, status, duration ms, reason)
    type Ending = (&'static str, bool, u64, u16, u64, Option<KeptReason>);

    #[rustfmt::skip]
    const ENDINGS: &[Ending] = &[
        ("503 from the upstream",             true,  0,   503, 1,    Some(KeptReason::Error)),
        ("500",                               true,  0,   500, 1,    Some(KeptReason::Error)),
        ("504 local reply for a timeout",     true,  0,   504, 1,    Some(KeptReason::Error)),
        ("reset before a response",           true,  0,   0,   1,    Some(KeptReason::Error)),
        ("200 is not kept",                   true,  0,   200, 1,    None),
        ("404 is not an error to keep",       true,  0,   404, 1,    None),
        ("429 neither",                       true,  0,   429, 1,    None),
        ("errors off: a 503 is not kept",     false, 0,   503, 1,    None),
        ("slow 200",                          true,  100, 200, 100,  Some(KeptReason::Slow)),
        ("just under the threshold",          true,  100, 200, 99,   None),
        ("slow and failed: the error wins",   true,  100, 503, 500,  Some(KeptReason::Error)),
        ("slowness off: a slow 200 is not",   true,  0,   200, 9000, None),
        ("errors off, slow on: a slow 503",   false, 100, 503, 200,  Some(KeptReason::Slow)),
    ];

    #[test]
    fn which_endings_keep() {
        for (case, errors, slow_ms, status, ms, want) in ENDINGS {
            let k = keep(*errors, *slow_ms);
            assert_eq!(k.reason(*status, ms * MS), *want, "{case}");
        }
    }

    #[test]
    fn enabled_only_with_a_rule() {
        assert!(keep(true, 0).enabled());
        assert!(keep(false, 1).enabled());
        assert!(!keep(false, 0).enabled());
    }

    #[test]
    fn the_budget_caps_kept_traces_per_second() {
        let mut k = keep(true, 0);
        let t0 = 1_700_000_000_000 * MS;
        let admitted = (0..50).filter(|i| k.admit(t0 + i * MS)).count();
        assert_eq!(admitted, 2, "a burst of the per-second budget");
        assert!(k.admit(t0 + 600 * MS), "refilled after half a second");
        assert!(!k.admit(t0 + 601 * MS));
    }

    #[test]
    fn reasons_name_the_attribute_values() {
        assert_eq!(KeptReason::Error.as_str(), "error");
        assert_eq!(KeptReason::Slow.as_str(), "slow");
    }
}
