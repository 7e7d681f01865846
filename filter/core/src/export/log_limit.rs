//! Rate-limited failure logs: while a collector is down, every tick would otherwise log the same line.
//!
//! One line per kind of failure per interval; occurrences in between are counted and reported with
//! the next line of that kind, or by [`LogLimiter::drain_due`] once the interval has passed.

/// Default interval between two lines of the same kind.
pub const DEFAULT_INTERVAL_MS: u64 = 10_000;

#[derive(Debug, Clone)]
struct KindState {
    kind: &'static str,
    last_emit_ns: u64,
    suppressed: u64,
}

/// Per-kind log rate limiter.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    interval_ns: u64,
    kinds: Vec<KindState>,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter::new(DEFAULT_INTERVAL_MS)
    }
}

impl LogLimiter {
    /// A limiter allowing one line per kind every `interval_ms`.
    pub fn new(interval_ms: u64) -> Self {
        LogLimiter {
            interval_ns: interval_ms.saturating_mul(1_000_000),
            kinds: Vec::new(),
        }
    }

    /// Record one occurrence of `kind`. Returns the line to log (`hoptrace: <kind>: <message>`, plus
    /// the count suppressed since the last line), or `None` when this one is suppressed; `message` is
    /// only built when the line is emitted.
    pub fn note(
        &mut self,
        kind: &'static str,
        now_ns: u64,
        message: impl FnOnce() -> String,
    ) -> Option<String> {
        let interval = self.interval_ns;
        let state = match self.kinds.iter().position(|k| k.kind == kind) {
            Some(i) => self.kinds.get_mut(i)?,
            None => {
                self.kinds.push(KindState {
                    kind,
                    last_emit_ns: now_ns,
                    suppressed: 0,
                });
                return Some(format!("hoptrace: {kind}: {}", message()));
            }
        };
        if now_ns.saturating_sub(state.last_emit_ns) < interval {
            state.suppressed += 1;
            return None;
        }
        let suppressed = std::mem::take(&mut state.suppressed);
        state.last_emit_ns = now_ns;
        Some(if suppressed > 0 {
            format!(
                "hoptrace: {kind}: {} ({suppressed} more since the last report)",
                message()
            )
        } else {
            format!("hoptrace: {kind}: {}", message())
        })
    }

    /// Lines summarising suppressed occurrences whose interval has passed (call from the tick), so a
    /// burst that stops is still reported.
    pub fn drain_due(&mut self, now_ns: u64) -> Vec<String> {
        let interval = self.interval_ns;
        let mut out = Vec::new();
        for k in &mut self.kinds {
            if k.suppressed > 0 && now_ns.saturating_sub(k.last_emit_ns) >= interval {
                out.push(format!(
                    "hoptrace: {}: {} more since the last report",
                    k.kind, k.suppressed
                ));
                k.suppressed = 0;
                k.last_emit_ns = now_ns;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn one_line_per_kind_per_interval() {
        let mut l = LogLimiter::new(10_000);
        let msg = || "collector said 503".to_string();
        assert_eq!(
            l.note("export_retry", 0, msg).as_deref(),
            Some("hoptrace: export_retry: collector said 503")
        );
        assert_eq!(l.note("export_retry", S, msg), None);
        assert_eq!(l.note("export_retry", 2 * S, msg), None);
        // Another kind is not limited by the first.
        assert!(l.note("queue_full", 2 * S, || "full".into()).is_some());
        assert_eq!(
            l.note("export_retry", 10 * S, msg).as_deref(),
            Some("hoptrace: export_retry: collector said 503 (2 more since the last report)")
        );
        assert_eq!(l.note("export_retry", 11 * S, msg), None);
        assert!(l.drain_due(15 * S).is_empty());
        assert_eq!(
            l.drain_due(20 * S),
            vec!["hoptrace: export_retry: 1 more since the last report".to_string()]
        );
        assert!(l.drain_due(40 * S).is_empty());
    }

    #[test]
    fn suppressed_messages_are_not_built() {
        let mut l = LogLimiter::new(10_000);
        l.note("k", 0, || "x".into());
        assert_eq!(
            l.note("k", 1, || unreachable!("built a suppressed message")),
            None
        );
    }
}
