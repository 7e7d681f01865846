//! Bytes from the host as text.

/// `bytes` as UTF-8 text, `None` if they are not (header names and values are ASCII in practice).
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
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
