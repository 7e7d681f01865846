//! Which request headers to ask the host for first.
//!
//! The decision needs every `traceparent` and `tracestate` line, so the filter reads the whole
//! header map. In V8 a host call that hands data back costs far more than one that does not (the host
//! calls into the module's allocator), and the map is the largest answer of all. When a request
//! carries no trace context, two lookups that come back empty settle the decision just as well:
//! nothing to extract, no stale `tracestate` to remove. Only W3C extraction allows that shortcut (B3
//! and Jaeger have their own headers).
//!
//! Which order is cheaper depends on the traffic. The map is needed anyway when a request carries a
//! context (inside a mesh almost all do) or is sampled (at 100 % every request is): the lookups are
//! then wasted. At an edge with a low ratio most requests need neither. [`HeaderReadPlan`] keeps a
//! moving estimate of the share of requests that needed the map and asks for the map first once that
//! share passes one half. The decision is the same either way; only its cost changes.

use crate::config::{Propagator, Settings};

/// Fixed-point scale of the moving estimate (1.0).
const ONE: u32 = 1 << 10;
/// Weight of the newest request: about the last 32 requests count.
const SHIFT: u32 = 5;

/// The per-VM choice between "look up the context headers first" and "read the whole map".
#[derive(Debug, Clone)]
pub struct HeaderReadPlan {
    /// Whether the configured extract formats allow the lookup shortcut at all.
    lookup_allowed: bool,
    /// Moving share of requests that needed the whole map, scaled by [`ONE`].
    map_needed: u32,
}

impl HeaderReadPlan {
    /// The plan for `settings`: lookups first until traffic shows contexts are the rule.
    ///
    /// An untrusting edge, or a hop that injects B3, must see every header line to remove a
    /// caller's foreign context headers (`b3`, `x-b3-*`, `uber-trace-id`, `uberctx-*`, `baggage`),
    /// so it reads the map on every request. So does a hop with sampling rules: they match on
    /// `:path`, `:authority`, `:method` and other headers, and one map read answers all of them
    /// (a sampled request then reuses it for its span).
    pub fn new(settings: &Settings) -> Self {
        let w3c_only = |ps: &[Propagator]| {
            ps.iter()
                .all(|p| matches!(p, Propagator::TraceContext | Propagator::Baggage))
        };
        let injects_b3 = settings
            .propagation
            .inject
            .iter()
            .any(|p| matches!(p, Propagator::B3 | Propagator::B3Multi));
        let lookup_allowed = settings.trust_incoming
            && !injects_b3
            && w3c_only(&settings.propagation.extract)
            && settings.sampling.rules.is_empty();
        HeaderReadPlan {
            lookup_allowed,
            map_needed: 0,
        }
    }

    /// Look up `traceparent` (and `tracestate`) before deciding whether the whole map is needed.
    pub fn lookup_first(&self) -> bool {
        self.lookup_allowed && self.map_needed < ONE / 2
    }

    /// Record whether a request needed the whole map: it carried a `traceparent` or `tracestate`,
    /// or it was sampled (its span reads the other headers).
    pub fn observe(&mut self, map_needed: bool) {
        let decayed = self.map_needed - (self.map_needed >> SHIFT);
        let added = if map_needed { ONE >> SHIFT } else { 0 };
        self.map_needed = (decayed + added).min(ONE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;

    fn plan(config: &str) -> HeaderReadPlan {
        HeaderReadPlan::new(&parse_config(config.as_bytes()).unwrap())
    }

    #[test]
    fn lookups_first_until_most_requests_carry_a_context_and_back_again() {
        let mut p = plan("{}");
        assert!(p.lookup_first());
        for _ in 0..200 {
            p.observe(false);
        }
        assert!(p.lookup_first());
        let mut flipped_after = None;
        for i in 1..=200 {
            p.observe(true);
            if !p.lookup_first() {
                flipped_after = Some(i);
                break;
            }
        }
        let n = flipped_after.expect("a mesh's traffic switches to the map first");
        assert!((10..=40).contains(&n), "switched after {n} requests");
        for _ in 0..200 {
            p.observe(true);
        }
        assert!(!p.lookup_first());
        for _ in 0..200 {
            p.observe(false);
        }
        assert!(p.lookup_first(), "back at the edge");
    }

    #[test]
    fn mixed_traffic_settles_by_its_majority() {
        let mut mostly_context = plan("{}");
        let mut mostly_none = plan("{}");
        for i in 0..1000 {
            mostly_context.observe(i % 4 != 0);
            mostly_none.observe(i % 4 == 0);
        }
        assert!(!mostly_context.lookup_first());
        assert!(mostly_none.lookup_first());
    }

    #[test]
    fn b3_or_jaeger_extraction_always_reads_the_map() {
        for extract in [
            r#"["b3"]"#,
            r#"["tracecontext","b3multi"]"#,
            r#"["jaeger"]"#,
        ] {
            let p = plan(&format!(r#"{{"propagation":{{"extract":{extract}}}}}"#));
            assert!(!p.lookup_first(), "{extract}");
        }
        assert!(plan(r#"{"propagation":{"extract":["tracecontext","baggage"]}}"#).lookup_first());
    }

    #[test]
    fn an_untrusting_edge_or_b3_injection_always_reads_the_map() {
        for config in [
            r#"{"trust_incoming":false}"#,
            r#"{"propagation":{"inject":["tracecontext","b3"]}}"#,
            r#"{"propagation":{"inject":["b3multi"]}}"#,
        ] {
            assert!(!plan(config).lookup_first(), "{config}");
        }
        assert!(plan(r#"{"propagation":{"inject":["tracecontext","jaeger"]}}"#).lookup_first());
    }
}
