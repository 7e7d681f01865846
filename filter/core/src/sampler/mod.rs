//! The head sampler: the OpenTelemetry sampler names, with the ratio rule of the spec's
//! ProbabilitySampler (consistent probability sampling) and a rate-limited root sampler.
//!
//! Sans-IO: the caller extracts the parent context and computes the randomness R (the `rv` sub-key of
//! the `ot` tracestate member when valid, else the low 56 bits of the trace id); the sampler returns
//! the decision and the `th` to write back into the `ot` member.

pub mod ratelimit;
pub mod rules;
pub mod threshold;

pub use ratelimit::RateLimiter;
pub use rules::{RequestKeys, Rules};

use crate::config::{SamplerSettings, Threshold};

/// What the sampler needs to know about the incoming request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplingInput {
    /// The valid incoming context, if any (and trusted); `None` makes this a root.
    pub parent: Option<ParentContext>,
    /// The 56-bit randomness R: the `ot` member's `rv` if present and valid, else
    /// `trace_id.low56()`. The caller computes it.
    pub randomness: u64,
}

/// The parts of the incoming context a parent-based sampler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentContext {
    /// The W3C sampled flag of the parent.
    pub sampled: bool,
    /// The parent's `th` from the `ot` tracestate member, if present and valid.
    pub th: Option<Threshold>,
}

/// The sampler's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Record and export this hop's spans, and set the sampled flag upstream.
    pub sampled: bool,
    /// The `th` to write into the `ot` member going out; `None` means remove `th` (or write none).
    pub th: Option<Threshold>,
}

impl Decision {
    /// Not sampled, no `th`.
    pub const DROP: Decision = Decision {
        sampled: false,
        th: None,
    };
}

/// The configured head sampler. Holds the rate limiter's state for `parentbased_ratelimited`, so one
/// instance lives per VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampler {
    settings: SamplerSettings,
    limiter: Option<RateLimiter>,
}

impl Sampler {
    /// A sampler for validated settings (thresholds were computed once, at load).
    pub fn new(settings: SamplerSettings) -> Self {
        let limiter = match settings {
            SamplerSettings::ParentBasedRateLimited { per_second } => {
                Some(RateLimiter::new(per_second))
            }
            _ => None,
        };
        Sampler { settings, limiter }
    }

    /// The settings this sampler was built from.
    pub fn settings(&self) -> SamplerSettings {
        self.settings
    }

    /// Decide for one request at clock reading `now_ns` (used only by the rate limiter).
    pub fn decide(&mut self, input: &SamplingInput, now_ns: u64) -> Decision {
        let r = input.randomness;
        match self.settings {
            SamplerSettings::AlwaysOn => probability(Threshold::ALWAYS, r),
            SamplerSettings::AlwaysOff => Decision::DROP,
            SamplerSettings::TraceIdRatio(t) => probability(t, r),
            SamplerSettings::ParentBasedAlwaysOn => match input.parent {
                Some(p) => follow_parent(p, r),
                None => probability(Threshold::ALWAYS, r),
            },
            SamplerSettings::ParentBasedAlwaysOff => match input.parent {
                Some(p) => follow_parent(p, r),
                None => Decision::DROP,
            },
            SamplerSettings::ParentBasedTraceIdRatio(t) => match input.parent {
                Some(p) => follow_parent(p, r),
                None => probability(t, r),
            },
            SamplerSettings::ParentBasedRateLimited { .. } => match input.parent {
                Some(p) => follow_parent(p, r),
                None => {
                    // Not a probability sampler: no threshold describes this decision, so no `th`.
                    let sampled = self.limiter.as_mut().is_some_and(|l| l.try_acquire(now_ns));
                    Decision { sampled, th: None }
                }
            },
        }
    }
}

/// The ProbabilitySampler: sample when R ≥ T and say so with `th:T`; a negative decision has no `th`.
fn probability(t: Threshold, randomness: u64) -> Decision {
    if t.samples(randomness) {
        Decision {
            sampled: true,
            th: Some(t),
        }
    } else {
        Decision::DROP
    }
}

/// A parent-based child: the parent's flag decides; its `th` travels on unchanged unless the parent
/// was sampled and its `th` contradicts R (R < th), in which case the spec says erase it, since it
/// would misstate the probability this trace was sampled with.
fn follow_parent(parent: ParentContext, randomness: u64) -> Decision {
    let th = match parent.th {
        Some(th) if parent.sampled && !th.samples(randomness) => None,
        other => other,
    };
    Decision {
        sampled: parent.sampled,
        th,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;
    const HALF: Threshold = Threshold(0x80000000000000);

    fn root(randomness: u64) -> SamplingInput {
        SamplingInput {
            parent: None,
            randomness,
        }
    }

    fn child(sampled: bool, th: Option<Threshold>, randomness: u64) -> SamplingInput {
        SamplingInput {
            parent: Some(ParentContext { sampled, th }),
            randomness,
        }
    }

    fn decide(settings: SamplerSettings, input: SamplingInput) -> Decision {
        Sampler::new(settings).decide(&input, 0)
    }

    fn yes(th: Option<Threshold>) -> Decision {
        Decision { sampled: true, th }
    }
    fn no(th: Option<Threshold>) -> Decision {
        Decision { sampled: false, th }
    }

    const LOW_R: u64 = 0x10000000000000;
    const HIGH_R: u64 = 0xf0000000000000;

    #[rustfmt::skip]
    #[test]
    fn non_parent_based_samplers_ignore_the_parent() {
        use SamplerSettings::*;
        for (name, settings, input, want) in [
            ("always_on root writes th:0",           AlwaysOn,            root(0),                          yes(Some(Threshold::ALWAYS))),
            ("always_on overrides unsampled parent", AlwaysOn,            child(false, Some(HALF), LOW_R),  yes(Some(Threshold::ALWAYS))),
            ("always_off root",                      AlwaysOff,           root(HIGH_R),                     no(None)),
            ("always_off overrides sampled parent",  AlwaysOff,           child(true, Some(HALF), HIGH_R),  no(None)),
            ("traceidratio keeps R >= T",            TraceIdRatio(HALF),  root(HIGH_R),                     yes(Some(HALF))),
            ("traceidratio drops R < T",             TraceIdRatio(HALF),  root(LOW_R),                      no(None)),
            ("traceidratio ignores sampled parent",  TraceIdRatio(HALF),  child(true, Some(Threshold::ALWAYS), LOW_R), no(None)),
            ("traceidratio ignores unsampled parent",TraceIdRatio(HALF),  child(false, None, HIGH_R),       yes(Some(HALF))),
            ("traceidratio p=0 drops everything",    TraceIdRatio(Threshold::NEVER), root(u64::MAX >> 8),   no(None)),
        ] {
            assert_eq!(decide(settings, input), want, "{name}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn parent_based_children_follow_the_parent() {
        use SamplerSettings::*;
        let quarter = Threshold(0xc0000000000000);
        for settings in [ParentBasedAlwaysOn, ParentBasedAlwaysOff, ParentBasedTraceIdRatio(HALF),
                         ParentBasedTraceIdRatio(Threshold::NEVER), ParentBasedRateLimited { per_second: 1.0 }] {
            for (name, input, want) in [
                ("sampled parent, consistent th propagated",   child(true, Some(HALF), HIGH_R),     yes(Some(HALF))),
                ("sampled parent, th = R is consistent",       child(true, Some(quarter), quarter.0), yes(Some(quarter))),
                ("sampled parent, inconsistent th erased",     child(true, Some(quarter), HALF.0),  yes(None)),
                ("sampled parent, th:0 always consistent",     child(true, Some(Threshold::ALWAYS), 0), yes(Some(Threshold::ALWAYS))),
                ("sampled parent, no th in, none out",         child(true, None, LOW_R),            yes(None)),
                ("unsampled parent, th propagated unchanged",  child(false, Some(HALF), LOW_R),     no(Some(HALF))),
                ("unsampled parent, high R, th unchanged",     child(false, Some(HALF), HIGH_R),    no(Some(HALF))),
                ("unsampled parent, no th in, none out",       child(false, None, HIGH_R),          no(None)),
            ] {
                assert_eq!(decide(settings, input), want, "{settings:?}: {name}");
            }
        }
    }

    #[rustfmt::skip]
    #[test]
    fn parent_based_roots() {
        use SamplerSettings::*;
        for (name, settings, input, want) in [
            ("parentbased_always_on root",            ParentBasedAlwaysOn,           root(0),      yes(Some(Threshold::ALWAYS))),
            ("parentbased_always_off root",           ParentBasedAlwaysOff,          root(HIGH_R), no(None)),
            ("parentbased_traceidratio root keeps",   ParentBasedTraceIdRatio(HALF), root(HALF.0), yes(Some(HALF))),
            ("parentbased_traceidratio root drops",   ParentBasedTraceIdRatio(HALF), root(HALF.0 - 1), no(None)),
            ("parentbased_traceidratio p=1 keeps R=0", ParentBasedTraceIdRatio(Threshold::ALWAYS), root(0), yes(Some(Threshold::ALWAYS))),
            ("parentbased_ratelimited root has no th", ParentBasedRateLimited { per_second: 1.0 }, root(0), yes(None)),
        ] {
            assert_eq!(decide(settings, input), want, "{name}");
        }
    }

    #[test]
    fn rate_limited_roots_use_the_bucket_and_children_do_not() {
        let mut s = Sampler::new(SamplerSettings::ParentBasedRateLimited { per_second: 2.0 });
        assert!(s.decide(&root(0), 0).sampled);
        assert!(s.decide(&root(0), 0).sampled);
        assert!(!s.decide(&root(HIGH_R), 0).sampled, "bucket empty");
        assert!(
            s.decide(&child(true, None, 0), 0).sampled,
            "a sampled parent is followed regardless of the bucket"
        );
        assert!(!s.decide(&root(0), SEC / 4).sampled, "half a token");
        assert!(s.decide(&root(0), SEC / 2).sampled, "refilled");
    }

    #[test]
    fn ratio_sampler_is_deterministic_per_randomness() {
        let t = Threshold::from_ratio(0.1).unwrap();
        let mut s = Sampler::new(SamplerSettings::ParentBasedTraceIdRatio(t));
        for r in [0, t.0 - 1, t.0, t.0 + 1, (1 << 56) - 1] {
            let first = s.decide(&root(r), 0);
            assert_eq!(first, s.decide(&root(r), 99 * SEC));
            assert_eq!(first.sampled, r >= t.0);
        }
    }
}
