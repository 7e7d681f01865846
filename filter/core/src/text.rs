//! Bytes from the host as text, quickly in the common case.

/// `bytes` as UTF-8 text, `None` if they are not. Header names and values are ASCII in practice:
/// for those one plain byte loop decides, where `std::str::from_utf8` spends more on setting up
/// its word-at-a-time scan than a short header takes to check.
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().all(|b| *b < 0x80) {
        // SAFETY: every byte is ASCII, and ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_the_standard_check(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes).ok());
        }

        #[test]
        fn accepts_any_text(s in ".{0,30}") {
            prop_assert_eq!(utf8(s.as_bytes()), Some(s.as_str()));
        }
    }
}
