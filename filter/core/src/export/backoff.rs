//! Exponential backoff with equal jitter.
//!
//! Attempt n (1-based) waits `b/2 + uniform[0, b/2]` where `b = min(initial · 2^(n-1), max)`:
//! the wait keeps growing (at least half the nominal backoff) while retries from the many VMs of a
//! proxy fleet spread out instead of hitting a recovering collector together.

use crate::config::RetrySettings;

/// The nominal (un-jittered) backoff before retry `attempt` (1-based), in ms.
pub fn nominal_ms(retry: &RetrySettings, attempt: u32) -> u64 {
    let shift = attempt.saturating_sub(1).min(63);
    retry
        .initial_backoff_ms
        .saturating_mul(1u64 << shift)
        .min(retry.max_backoff_ms)
}

/// The jittered wait before retry `attempt`, in ms: in `[nominal/2, nominal]`.
pub fn jittered_ms(retry: &RetrySettings, attempt: u32, rng: &mut Jitter) -> u64 {
    let b = nominal_ms(retry, attempt);
    let half = b / 2;
    let span = b - half;
    half + rng.below_inclusive(span)
}

/// A small SplitMix64 generator: jitter needs spread, not secrecy, and this keeps the wasm small.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from a seed (the plugin passes host randomness; tests a constant).
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n]` (the tiny modulo bias is irrelevant for jitter).
    pub fn below_inclusive(&mut self, n: u64) -> u64 {
        match n.checked_add(1) {
            Some(m) => self.next_u64() % m,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY: RetrySettings = RetrySettings {
        initial_backoff_ms: 1_000,
        max_backoff_ms: 30_000,
        max_elapsed_ms: 60_000,
    };

    #[test]
    fn grows_and_caps() {
        let got: Vec<u64> = (1..=8).map(|n| nominal_ms(&RETRY, n)).collect();
        assert_eq!(
            got,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(
            nominal_ms(&RETRY, 200),
            30_000,
            "no overflow on many attempts"
        );
    }

    #[test]
    fn jitter_stays_in_bounds_and_spreads() {
        let mut rng = Jitter::new(42);
        for attempt in 1..=10 {
            let b = nominal_ms(&RETRY, attempt);
            let waits: Vec<u64> = (0..500)
                .map(|_| jittered_ms(&RETRY, attempt, &mut rng))
                .collect();
            assert!(
                waits.iter().all(|w| (b / 2..=b).contains(w)),
                "attempt {attempt}"
            );
            let (lo, hi) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
            assert!(hi - lo > b / 4, "attempt {attempt}: jitter spreads");
        }
    }
}
