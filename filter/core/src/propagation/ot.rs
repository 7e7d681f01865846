//! The OpenTelemetry `ot` tracestate member: `;`-separated `key:value` sub-keys, of which we read and
//! write `th` (sampling threshold) and read `rv` (explicit randomness), keeping the others.
//!
//! Spec: OpenTelemetry "TraceState handling" and consistent probability sampling (OTEP 235).
//! A sub-key key is `[a-z][a-z0-9]*` and a value `[A-Za-z0-9._-]*`; the whole member value is at
//! most 256 characters. A bad `th` or `rv` is treated as absent (the spec's rule for invalid
//! sampling sub-keys) without making the rest of the member invalid.

use crate::config::Threshold;
use crate::ids::lower_hex_value;

/// The tracestate key of the OpenTelemetry member.
pub const OT_KEY: &str = "ot";

/// Digits of a full threshold or randomness value (56 bits).
const DIGITS: usize = 14;
/// 2^56: the "never sample" threshold, which is never written.
const NEVER: u64 = 1 << 56;
/// Longest tracestate value.
const MAX_VALUE_LEN: usize = 256;

/// The parsed `ot` member value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OtState {
    /// `th`: the rejection threshold of the sampler that sampled this trace, if valid.
    pub th: Option<Threshold>,
    /// `rv`: explicit 56-bit randomness, if valid (exactly 14 lower-hex digits).
    pub rv: Option<u64>,
    /// Other sub-keys, in order, kept so we propagate what other OTel concerns wrote.
    other: Vec<(String, String)>,
}

impl OtState {
    /// Parse an `ot` member value. Never fails: an invalid `th` or `rv`, a repeated sub-key (only
    /// the first counts) or a piece that is not `key:value` is dropped; everything else is kept.
    #[inline(never)]
    pub fn parse(value: &str) -> OtState {
        let mut st = OtState::default();
        let (mut seen_th, mut seen_rv) = (false, false);
        for piece in value.split(';') {
            let Some((k, v)) = piece.split_once(':') else {
                continue;
            };
            if !is_sub_key(k) || !is_sub_value(v) {
                continue;
            }
            match k {
                "th" if !seen_th => {
                    seen_th = true;
                    st.th = threshold_from_hex(v);
                }
                "rv" if !seen_rv => {
                    seen_rv = true;
                    st.rv = rv_from_hex(v);
                }
                "th" | "rv" => {}
                _ if st.other.iter().any(|(ok, _)| ok == k) => {}
                _ => st.other.push((k.to_string(), v.to_string())),
            }
        }
        st
    }

    /// The member value to write: `th`, then `rv`, then the other sub-keys in order; `None` when
    /// nothing is left (then the `ot` member should be removed).
    ///
    /// A threshold of 2^56 or more ("never") is not written. If the value would exceed 256
    /// characters, other sub-keys are dropped from the right until it fits.
    pub fn format(&self) -> Option<String> {
        // `th:` and 14 digits, `;rv:` and 14 more: one allocation for what we write ourselves.
        let mut s = String::with_capacity(40);
        if let Some(th) = self.th.filter(|t| t.0 < NEVER) {
            s.push_str("th:");
            s.push_str(&threshold_to_hex(th));
        }
        if let Some(rv) = self.rv.filter(|&r| r < NEVER) {
            if !s.is_empty() {
                s.push(';');
            }
            s.push_str(&format!("rv:{rv:014x}"));
        }
        for (k, v) in &self.other {
            let extra = usize::from(!s.is_empty()) + k.len() + 1 + v.len();
            if s.len() + extra > MAX_VALUE_LEN {
                break;
            }
            if !s.is_empty() {
                s.push(';');
            }
            s.push_str(k);
            s.push(':');
            s.push_str(v);
        }
        (!s.is_empty()).then_some(s)
    }

    /// The other sub-keys, in order.
    pub fn other(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.other.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Set another sub-key (not `th` or `rv`, which have their own fields); replaces an existing
    /// value in place. Returns false, changing nothing, when the key or value breaks the grammar.
    pub fn set_other(&mut self, key: &str, value: &str) -> bool {
        if !is_sub_key(key) || !is_sub_value(value) || key == "th" || key == "rv" {
            return false;
        }
        match self.other.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.other.push((key.to_string(), value.to_string())),
        }
        true
    }
}

/// The `th` encoding of a threshold: its 14 hex digits with trailing zeros removed, `0` when T = 0.
///
/// The "never" threshold (2^56) has no encoding and must not be written ([`OtState::format`] skips
/// it); given one, this saturates to `ffffffffffffff`, the largest threshold there is.
pub fn threshold_to_hex(t: Threshold) -> String {
    // "Never" has no `th` form; the largest writable threshold is the closest meaning.
    t.to_th_hex().unwrap_or_else(|| "f".repeat(DIGITS))
}

/// Decode a `th` value: 1–14 lower-hex digits, right-padded with zeros to 14. `None` when invalid.
pub fn threshold_from_hex(s: &str) -> Option<Threshold> {
    Threshold::from_th_hex(s.as_bytes())
}

/// Decode an `rv` value: exactly 14 lower-hex digits.
pub fn rv_from_hex(s: &str) -> Option<u64> {
    if s.len() != DIGITS {
        return None;
    }
    hex_u64(s)
}

/// Lower-hex digits (at most 16) as a number.
fn hex_u64(s: &str) -> Option<u64> {
    s.bytes().try_fold(0u64, |acc, c| {
        Some((acc << 4) | u64::from(lower_hex_value(c)?))
    })
}

fn is_sub_key(k: &str) -> bool {
    let mut b = k.bytes();
    b.next().is_some_and(|c| c.is_ascii_lowercase())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn is_sub_value(v: &str) -> bool {
    v.bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// T = 2^56 − round(p · 2^56), as the sampler computes it.
    fn t_for(p: f64) -> Threshold {
        let two56 = NEVER as f64;
        Threshold(NEVER - (p * two56).round() as u64)
    }

    #[rustfmt::skip]
    #[test]
    fn threshold_table_from_design() {
        for (ratio, th) in [
            (1.0,        "0"),
            (0.5,        "8"),
            (0.25,       "c"),
            (0.125,      "e"),
            (0.1,        "e6666666666666"),
            (0.01,       "fd70a3d70a3d71"),
            (0.001,      "ffbe76c8b43958"),
            (1.0 / 3.0,  "aaaaaaaaaaaaac"),
        ] {
            let t = t_for(ratio);
            assert_eq!(threshold_to_hex(t), th, "ratio {ratio}");
            assert_eq!(threshold_from_hex(th), Some(t), "ratio {ratio}");
        }
        assert_eq!(t_for(0.5), Threshold(0x80000000000000));
    }

    #[rustfmt::skip]
    #[test]
    fn threshold_codec_edges() {
        for (case, s, want) in [
            ("single zero",            "0",               Some(0)),
            ("fourteen zeros",         "00000000000000",  Some(0)),
            ("right-padded",           "8",               Some(0x80000000000000)),
            ("full 14 digits",         "ffffffffffffff",  Some(0xffffffffffffff)),
            ("15 digits invalid",      "800000000000000", None),
            ("empty invalid",          "",                None),
            ("upper-case invalid",     "C",               None),
            ("non-hex invalid",        "g",               None),
        ] {
            assert_eq!(threshold_from_hex(s).map(|t| t.0), want, "{case}");
        }
        assert_eq!(threshold_to_hex(Threshold(0x00000000000001)), "00000000000001");
        assert_eq!(threshold_to_hex(Threshold(0x10000000000000)), "1");
        assert_eq!(threshold_to_hex(Threshold(NEVER)), "ffffffffffffff", "never saturates");
    }

    #[rustfmt::skip]
    #[test]
    fn parse_cases() {
        for (case, input, th, rv, other) in [
            ("th only",                   "th:8",                             Some(0x80000000000000), None, vec![]),
            ("th and rv",                 "th:c;rv:0123456789abcd",           Some(0xc0000000000000), Some(0x0123456789abcd), vec![]),
            ("unknown sub-keys kept",     "p:8;th:0;foo:Bar.1_-;r:62",        Some(0), None, vec![("p", "8"), ("foo", "Bar.1_-"), ("r", "62")]),
            ("invalid th is absent",      "th:XYZ;a:1",                       None, None, vec![("a", "1")]),
            ("th too long is absent",     "th:800000000000000;a:1",           None, None, vec![("a", "1")]),
            ("rv too short is absent",    "rv:0123;th:8",                     Some(0x80000000000000), None, vec![]),
            ("rv upper-case is absent",   "rv:0123456789ABCD",                None, None, vec![]),
            ("empty th is absent",        "th:",                              None, None, vec![]),
            ("first th wins",             "th:8;th:c",                        Some(0x80000000000000), None, vec![]),
            ("malformed piece dropped",   "junk;a:1;;:x;B:2;c:d e",           None, None, vec![("a", "1")]),
            ("duplicate unknown dropped", "a:1;a:2",                          None, None, vec![("a", "1")]),
            ("empty value kept",          "a:",                               None, None, vec![("a", "")]),
            ("empty input",               "",                                 None, None, vec![]),
        ] {
            let st = OtState::parse(input);
            assert_eq!(st.th.map(|t| t.0), th, "{case}");
            assert_eq!(st.rv, rv, "{case}");
            assert_eq!(st.other().collect::<Vec<_>>(), other, "{case}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn format_cases() {
        for (case, input, want) in [
            ("th for ratio 0.01",          "th:fd70a3d70a3d71",         Some("th:fd70a3d70a3d71")),
            ("order th, rv, unknown",      "x:1;rv:0123456789abcd;th:8", Some("th:8;rv:0123456789abcd;x:1")),
            ("invalid th removed",         "th:Q;x:1",                  Some("x:1")),
            ("nothing left",               "th:Q",                      None),
            ("trailing zeros normalised",  "th:80",                     Some("th:8")),
        ] {
            assert_eq!(OtState::parse(input).format().as_deref(), want, "{case}");
        }
        let mut st = OtState::parse("th:8;x:1");
        st.th = None;
        assert_eq!(st.format().as_deref(), Some("x:1"), "negative decision removes th");
        st.th = Some(Threshold(NEVER));
        assert_eq!(st.format().as_deref(), Some("x:1"), "never is not written");
        st.th = Some(Threshold(0));
        assert_eq!(st.format().as_deref(), Some("th:0;x:1"));
    }

    #[test]
    fn format_stays_within_256() {
        let mut st = OtState::parse("th:8");
        for i in 0..40 {
            assert!(st.set_other(&format!("k{i}"), "abcdefgh"));
        }
        let s = st.format().unwrap();
        assert!(s.len() <= 256, "{}", s.len());
        assert!(s.starts_with("th:8;k0:abcdefgh"));
        assert!(!st.set_other("th", "0"));
        assert!(!st.set_other("K", "0"));
        assert!(!st.set_other("k", "a b"));
        assert!(st.set_other("k0", "new"));
        assert_eq!(st.other().next(), Some(("k0", "new")));
    }

    proptest! {
        #[test]
        fn threshold_round_trip(t in 0u64..NEVER) {
            let s = threshold_to_hex(Threshold(t));
            prop_assert!(!s.is_empty() && s.len() <= 14);
            prop_assert_eq!(threshold_from_hex(&s), Some(Threshold(t)));
        }

        #[test]
        fn format_then_parse(th in proptest::option::of(0u64..NEVER),
                             rv in proptest::option::of(0u64..NEVER),
                             other in proptest::collection::vec(("[a-z][a-z0-9]{0,4}", "[A-Za-z0-9._-]{0,8}"), 0..6)) {
            let mut st = OtState { th: th.map(Threshold), rv, other: vec![] };
            for (k, v) in &other {
                st.set_other(k, v);
            }
            match st.format() {
                None => prop_assert_eq!(st, OtState::default()),
                Some(s) => {
                    prop_assert!(crate::propagation::tracestate::is_valid_value(s.as_bytes()));
                    prop_assert_eq!(OtState::parse(&s), st);
                }
            }
        }

        #[test]
        fn random_text_never_panics(s in "\\PC{0,300}") {
            let st = OtState::parse(&s);
            if let Some(f) = st.format() {
                prop_assert!(f.len() <= 256);
            }
        }
    }
}
