//! A token bucket for `parentbased_ratelimited`: at most N root traces per second per VM.
//!
//! The clock is passed in (sans-IO), so tests drive it with fake time. The host clock is not
//! guaranteed monotonic, so a reading earlier than the last one refills nothing rather than
//! panicking or granting tokens twice.

/// Nanoseconds per second, as a float for the refill rate.
const NANOS_PER_SEC: f64 = 1_000_000_000.0;

/// A token bucket holding up to `max(1, per_second)` tokens, starting full, refilled continuously.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimiter {
    /// Tokens per nanosecond.
    rate_per_ns: f64,
    /// Bucket size.
    capacity: f64,
    /// Tokens available now.
    tokens: f64,
    /// Latest clock reading seen; `None` before the first call.
    last_ns: Option<u64>,
}

impl RateLimiter {
    /// A bucket allowing `per_second` acquisitions per second on average, with bursts of up to
    /// `max(1, per_second)`. A rate that is not a positive finite number allows nothing (validation
    /// rejects such configs before they get here).
    pub fn new(per_second: f64) -> Self {
        let usable = per_second.is_finite() && per_second > 0.0;
        let (rate_per_ns, capacity) = if usable {
            (per_second / NANOS_PER_SEC, per_second.max(1.0))
        } else {
            (0.0, 0.0)
        };
        RateLimiter {
            rate_per_ns,
            capacity,
            tokens: capacity,
            last_ns: None,
        }
    }

    /// Take one token at clock reading `now_ns` if one is available.
    pub fn try_acquire(&mut self, now_ns: u64) -> bool {
        self.refill(now_ns);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Add the tokens earned since the last reading. The bucket starts full, so the first reading
    /// only sets the clock.
    fn refill(&mut self, now_ns: u64) {
        match self.last_ns {
            Some(last) if now_ns > last => {
                // f64 keeps this finite for any u64 gap; `min` caps it at the bucket size.
                let earned = (now_ns - last) as f64 * self.rate_per_ns;
                self.tokens = (self.tokens + earned).min(self.capacity);
                self.last_ns = Some(now_ns);
            }
            // A clock that went backwards (or stood still) earns nothing, and the later reading is
            // kept so the same interval is not counted twice when the clock catches up.
            Some(_) => {}
            None => self.last_ns = Some(now_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn burst(rl: &mut RateLimiter, now: u64, tries: usize) -> usize {
        (0..tries).filter(|_| rl.try_acquire(now)).count()
    }

    #[test]
    fn starts_full_and_bursts_to_capacity() {
        let mut rl = RateLimiter::new(10.0);
        assert_eq!(burst(&mut rl, 5 * SEC, 100), 10);
    }

    #[test]
    fn fractional_rate_has_capacity_one() {
        let mut rl = RateLimiter::new(0.5);
        assert_eq!(burst(&mut rl, 0, 10), 1);
        assert_eq!(burst(&mut rl, SEC, 10), 0, "half a token after 1 s");
        assert_eq!(burst(&mut rl, 2 * SEC, 10), 1, "one token after 2 s");
    }

    #[test]
    fn refills_over_fake_time() {
        let mut rl = RateLimiter::new(10.0);
        assert_eq!(burst(&mut rl, 0, 100), 10);
        assert_eq!(burst(&mut rl, SEC / 10 - 1, 100), 0, "just under one token");
        assert_eq!(burst(&mut rl, SEC / 10, 100), 1);
        assert_eq!(burst(&mut rl, SEC / 10 + SEC / 2, 100), 5);
        assert_eq!(burst(&mut rl, 100 * SEC, 100), 10, "capped at capacity");
    }

    #[test]
    fn clock_going_backwards_refills_nothing() {
        let mut rl = RateLimiter::new(1.0);
        assert!(rl.try_acquire(10 * SEC));
        assert!(!rl.try_acquire(2 * SEC), "earlier reading earns nothing");
        assert!(
            !rl.try_acquire(10 * SEC + SEC / 2),
            "interval not counted twice"
        );
        assert!(rl.try_acquire(11 * SEC));
    }

    #[test]
    fn huge_gaps_do_not_overflow() {
        let mut rl = RateLimiter::new(1e12);
        assert!(rl.try_acquire(0));
        assert!(rl.try_acquire(u64::MAX));
        assert!(rl.try_acquire(0));
        let mut slow = RateLimiter::new(1.0);
        assert!(slow.try_acquire(0));
        assert_eq!(burst(&mut slow, u64::MAX, 5), 1);
    }

    #[test]
    fn unusable_rates_allow_nothing() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut rl = RateLimiter::new(rate);
            assert_eq!(burst(&mut rl, 0, 3), 0, "{rate}");
            assert_eq!(burst(&mut rl, 100 * SEC, 3), 0, "{rate}");
        }
    }
}
