//! The ProbabilitySampler threshold: ratio → T, the R ≥ T test, and the `th` hex form.
//!
//! The rule is the OpenTelemetry spec's consistent probability sampling (OTEP 235):
//! T = 2^56 − round(p · 2^56), sample when the 56-bit randomness R ≥ T. Computing T exactly matters:
//! every SDK must get the same T from the same ratio, or the same trace gets different answers on
//! different hops.

use crate::config::Threshold;

/// 2^56: the size of the randomness space.
const SPACE: u64 = 1 << 56;
/// The low 56 bits.
const MASK: u64 = SPACE - 1;
/// The smallest non-zero ratio the 56-bit threshold can express.
const MIN_RATIO: f64 = 1.0 / (SPACE as f64);
/// Most hex digits of a `th` value.
const TH_DIGITS: usize = 14;

impl Threshold {
    /// T = 0: every trace is sampled (ratio 1, `th:0`).
    pub const ALWAYS: Threshold = Threshold(0);
    /// T = 2^56: no trace is sampled (ratio 0). Has no `th` form; never written.
    pub const NEVER: Threshold = Threshold(SPACE);

    /// The threshold for sampling ratio `p`: `None` unless `p` is 0 or within [2^-56, 1] (NaN is
    /// `None`); `p = 0` is [`Threshold::NEVER`].
    pub fn from_ratio(p: f64) -> Option<Threshold> {
        if p == 0.0 {
            return Some(Threshold::NEVER);
        }
        // Written so that NaN fails the test.
        if !(MIN_RATIO..=1.0).contains(&p) {
            return None;
        }
        // Multiplying by a power of two only moves the exponent, so `scaled` is exact; `round` is
        // half away from zero as the spec asks; the result lies in [1, 2^56] and converts exactly.
        let scaled = (p * SPACE as f64).round();
        let kept = scaled as u64;
        SPACE.checked_sub(kept).map(Threshold)
    }

    /// Whether a trace with 56-bit randomness `randomness` is sampled: R ≥ T. Bits above 56 are
    /// ignored; [`Threshold::NEVER`] samples nothing.
    pub fn samples(self, randomness: u64) -> bool {
        self.0 < SPACE && (randomness & MASK) >= self.0
    }

    /// The sampling ratio this threshold stands for, (2^56 − T) / 2^56.
    pub fn ratio(self) -> f64 {
        SPACE.saturating_sub(self.0) as f64 / SPACE as f64
    }

    /// The `th` sub-key value: up to 14 lower-hex digits with trailing zeros removed, `0` for T = 0.
    /// `None` for [`Threshold::NEVER`], which the spec gives no encoding.
    pub fn to_th_hex(self) -> Option<String> {
        if self.0 >= SPACE {
            return None;
        }
        if self.0 == 0 {
            return Some("0".to_owned());
        }
        // The digits from the top, without the formatting machinery: a ratio sampler writes this
        // for every request it samples.
        let significant = TH_DIGITS - (self.0.trailing_zeros() as usize / 4);
        let mut th = String::with_capacity(significant);
        for i in 0..significant {
            let nibble = (self.0 >> (4 * (TH_DIGITS - 1 - i))) & 0xf;
            th.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
        }
        Some(th)
    }

    /// Parse a `th` sub-key value: 1 to 14 lower-hex digits, missing trailing digits are zeros.
    pub fn from_th_hex(s: &[u8]) -> Option<Threshold> {
        if s.is_empty() || s.len() > TH_DIGITS {
            return None;
        }
        let mut v: u64 = 0;
        for &c in s {
            v = (v << 4) | u64::from(crate::ids::lower_hex_value(c)?);
        }
        // `s.len()` ≤ 14, so the shift is at most 52 bits and never overflows.
        let pad = 4 * (TH_DIGITS - s.len());
        Some(Threshold(v << pad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const RATIO_TABLE: &[(&str, f64, u64, &str)] = &[
        ("ratio 1",      1.0,       0x00000000000000, "0"),
        ("ratio 0.5",    0.5,       0x80000000000000, "8"),
        ("ratio 0.25",   0.25,      0xc0000000000000, "c"),
        ("ratio 0.125",  0.125,     0xe0000000000000, "e"),
        ("ratio 0.1",    0.1,       0xe6666666666666, "e6666666666666"),
        ("ratio 0.01",   0.01,      0xfd70a3d70a3d71, "fd70a3d70a3d71"),
        ("ratio 0.001",  0.001,     0xffbe76c8b43958, "ffbe76c8b43958"),
        ("ratio 1/3",    1.0 / 3.0, 0xaaaaaaaaaaaaac, "aaaaaaaaaaaaac"),
        ("ratio 2^-56",  MIN_RATIO, 0xffffffffffffff, "ffffffffffffff"),
    ];

    #[test]
    fn design_ratio_table() {
        for &(name, p, t, th) in RATIO_TABLE {
            let got = Threshold::from_ratio(p).unwrap();
            assert_eq!(got, Threshold(t), "{name}");
            assert_eq!(got.to_th_hex().as_deref(), Some(th), "{name}");
            assert_eq!(
                Threshold::from_th_hex(th.as_bytes()),
                Some(got),
                "{name} parse back"
            );
        }
    }

    #[rustfmt::skip]
    #[test]
    fn invalid_ratios() {
        for (name, p) in [
            ("NaN",            f64::NAN),
            ("negative",       -0.5),
            ("above one",      1.0000001),
            ("infinite",       f64::INFINITY),
            ("below 2^-56",    MIN_RATIO / 2.0),
            ("smallest f64",   f64::MIN_POSITIVE),
        ] {
            assert_eq!(Threshold::from_ratio(p), None, "{name}");
        }
    }

    #[test]
    fn ratio_zero_is_never() {
        assert_eq!(Threshold::from_ratio(0.0), Some(Threshold::NEVER));
        assert_eq!(Threshold::from_ratio(-0.0), Some(Threshold::NEVER));
        assert_eq!(Threshold::NEVER.to_th_hex(), None);
    }

    #[test]
    fn boundary_randomness() {
        for &(name, p, _, _) in RATIO_TABLE {
            let t = Threshold::from_ratio(p).unwrap();
            if t.0 > 0 {
                assert!(!t.samples(t.0 - 1), "{name}: R = T-1 drops");
            }
            assert!(t.samples(t.0), "{name}: R = T keeps");
            assert!(t.samples(MASK), "{name}: R = max keeps");
        }
    }

    #[test]
    fn ratio_one_keeps_everything() {
        let t = Threshold::from_ratio(1.0).unwrap();
        for r in [0, 1, 0x80000000000000, MASK] {
            assert!(t.samples(r), "R = {r:#x}");
        }
    }

    #[test]
    fn ratio_zero_keeps_nothing() {
        let t = Threshold::from_ratio(0.0).unwrap();
        for r in [0, 1, 0x80000000000000, MASK, u64::MAX] {
            assert!(!t.samples(r), "R = {r:#x}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn th_hex_parse() {
        for (name, input, want) in [
            ("empty",            "",                None),
            ("fifteen digits",   "800000000000000", None),
            ("upper case",       "C",               None),
            ("not hex",          "g",               None),
            ("zero",             "0",               Some(Threshold(0))),
            ("fourteen zeros",   "00000000000000",  Some(Threshold(0))),
            ("short form",       "c",               Some(Threshold(0xc0000000000000))),
            ("two digits",       "fd",              Some(Threshold(0xfd000000000000))),
        ] {
            assert_eq!(Threshold::from_th_hex(input.as_bytes()), want, "{name}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The digit loop writes what formatting 14 hex digits and trimming the zeros writes.
        #[test]
        fn th_hex_is_the_trimmed_14_digits(t in 1u64..SPACE, shift in 0u32..56) {
            for t in [t, (t >> shift).max(1) << shift] {
                let full = format!("{t:014x}");
                prop_assert_eq!(Threshold(t).to_th_hex(), Some(full.trim_end_matches('0').to_owned()));
            }
        }

        /// Consistency: a trace a lower ratio keeps, every higher ratio keeps too.
        #[test]
        fn higher_ratio_samples_a_superset(a in 0.0f64..=1.0, b in 0.0f64..=1.0, r in 0u64..SPACE) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let (Some(t_lo), Some(t_hi)) = (Threshold::from_ratio(lo), Threshold::from_ratio(hi)) else {
                // Ratios in (0, 2^-56) are invalid; nothing to compare.
                return Ok(());
            };
            prop_assert!(t_hi <= t_lo);
            if t_lo.samples(r) {
                prop_assert!(t_hi.samples(r));
            }
        }

        /// th text round-trips for every expressible threshold.
        #[test]
        fn th_hex_round_trip(t in 0u64..SPACE) {
            let th = Threshold(t).to_th_hex().unwrap();
            prop_assert!(th == "0" || !th.ends_with('0'));
            prop_assert_eq!(Threshold::from_th_hex(th.as_bytes()), Some(Threshold(t)));
        }

        /// The sampled fraction is the ratio: T is exactly 2^56 − round(p · 2^56).
        #[test]
        fn threshold_matches_ratio(p in MIN_RATIO..=1.0f64) {
            let t = Threshold::from_ratio(p).unwrap();
            let kept = SPACE - t.0;
            prop_assert!((kept as f64 - p * SPACE as f64).abs() <= 0.5);
        }
    }
}
