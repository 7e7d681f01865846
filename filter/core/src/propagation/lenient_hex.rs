//! Hex decoding for B3 and Jaeger ids, which (unlike W3C) accept upper-case digits and, for Jaeger,
//! ids shorter than their full width (left-padded with zeros).

/// The value of one hex digit of either case.
pub(crate) fn any_case_hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// 1 to `max_digits` (at most 32) hex digits of either case as a number; `None` otherwise.
pub(crate) fn hex_u128(s: &[u8], max_digits: usize) -> Option<u128> {
    if s.is_empty() || s.len() > max_digits.min(32) {
        return None;
    }
    s.iter().try_fold(0u128, |acc, &c| {
        Some((acc << 4) | u128::from(any_case_hex_value(c)?))
    })
}

/// 1 to `max_digits` (at most 16) hex digits of either case as a u64.
pub(crate) fn hex_u64(s: &[u8], max_digits: usize) -> Option<u64> {
    hex_u128(s, max_digits.min(16)).and_then(|v| u64::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn cases() {
        for (s, max, want) in [
            (&b"0"[..],  16, Some(0u128)),
            (b"aBcD",    16, Some(0xabcd)),
            (b"",        16, None),
            (b"g",       16, None),
            (b"12345",    4, None),
        ] {
            assert_eq!(hex_u128(s, max), want);
        }
        assert_eq!(hex_u128(&[b'f'; 32], 32), Some(u128::MAX));
        assert_eq!(hex_u128(&[b'f'; 33], 40), None);
        assert_eq!(hex_u64(&[b'F'; 16], 16), Some(u64::MAX));
        assert_eq!(hex_u64(&[b'f'; 17], 17), None);
    }
}
