//! The context extracted from a non-W3C format (B3, Jaeger): the same facts as a `traceparent`,
//! plus whether the sender made a sampling decision at all.

use super::traceparent::TraceParent;
use crate::ids::{SpanId, TraceFlags, TraceId};

/// A trace context read from B3 or Jaeger headers (or converted from a `traceparent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractedContext {
    /// The trace id; 64-bit ids are left-padded with zeros to 128 bits. Never all zero.
    pub trace_id: TraceId,
    /// The sender's span id, the parent of ours. Never all zero.
    pub parent_id: SpanId,
    /// The sender's sampling decision: `None` when it deferred the decision (B3 without a sampling
    /// state), `Some(true)` for sampled or debug.
    pub sampled: Option<bool>,
    /// W3C flags equivalent to the context: the sampled bit when `sampled == Some(true)`. The random
    /// bit is never set for B3/Jaeger ids, whose randomness nobody promised.
    pub flags: TraceFlags,
}

impl ExtractedContext {
    /// A context from ids and a decision, with `flags` derived from the decision.
    pub fn new(trace_id: TraceId, parent_id: SpanId, sampled: Option<bool>) -> Self {
        ExtractedContext {
            trace_id,
            parent_id,
            sampled,
            flags: TraceFlags::default().with_sampled(sampled == Some(true)),
        }
    }
}

impl From<TraceParent> for ExtractedContext {
    /// A `traceparent` always carries a decision: its sampled bit.
    fn from(tp: TraceParent) -> Self {
        ExtractedContext {
            trace_id: tp.trace_id,
            parent_id: tp.parent_id,
            sampled: Some(tp.flags.sampled()),
            flags: tp.flags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_decision() {
        let t = TraceId::from_u64(1);
        let s = SpanId::from_u64(2);
        assert!(ExtractedContext::new(t, s, Some(true)).flags.sampled());
        assert!(!ExtractedContext::new(t, s, Some(false)).flags.sampled());
        assert!(!ExtractedContext::new(t, s, None).flags.sampled());
        let tp = TraceParent {
            trace_id: t,
            parent_id: s,
            flags: TraceFlags(3),
        };
        let c = ExtractedContext::from(tp);
        assert_eq!((c.sampled, c.flags), (Some(true), TraceFlags(3)));
    }
}
