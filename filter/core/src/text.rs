//! Bytes from the host as text.

/// `bytes` as UTF-8 text, `None` if they are not (header names and values are ASCII in practice).
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
pub fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn truncation_keeps_whole_characters() {
        for (s, max, want) in [
            ("abc",      5, "abc"),
            ("abc",      2, "ab"),
            ("aé",       2, "a"),
            ("aé",       3, "aé"),
            ("€€",       5, "€"),
            ("𝄞x",      3, ""),
            ("",         0, ""),
        ] {
            assert_eq!(truncate_at_char(s, max), want, "{s:?} {max}");
        }
    }
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_the_standard_check(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes).ok());
        }

        #[test]
        fn truncation_is_a_char_prefix_within_the_limit(s in ".{0,30}", max in 0usize..40) {
            let t = truncate_at_char(&s, max);
            prop_assert!(t.len() <= max && s.starts_with(t));
            prop_assert!(t.len() == s.len() || max - t.len() < 4, "a whole character more would fit");
        }

        #[test]
        fn accepts_any_text(s in ".{0,30}") {
            prop_assert_eq!(utf8(s.as_bytes()), Some(s.as_str()));
        }
    }
}
