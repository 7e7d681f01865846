//! The header-pairs wire format of proxy-wasm (spec "Serialization"; cpp-host `pairs_util.h`).
//!
//! ```text
//! u32 count | count × (u32 name_len, u32 value_len) | count × (name \0 value \0)
//! ```
//! All integers little-endian. Decoding is strict like cpp-host's `toPairs`: every length must fit,
//! every string must be NUL-terminated and nothing may trail the last pair; the limits of
//! [`crate::limits`] bound what a guest can make the host allocate.

use std::fmt;

use crate::limits::{PAIRS_MAX_BYTES, PAIRS_MAX_COUNT};

/// Why a serialized pairs buffer was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairsError {
    /// Larger than [`PAIRS_MAX_BYTES`].
    TooLarge(usize),
    /// More pairs than [`PAIRS_MAX_COUNT`].
    TooManyPairs(u32),
    /// A length or string runs past the end of the buffer.
    Truncated,
    /// A name or value is not followed by the NUL byte the format requires.
    MissingNul,
    /// Bytes left after the last pair.
    TrailingBytes(usize),
}

impl fmt::Display for PairsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(n) => write!(f, "header pairs: {n} bytes, limit {PAIRS_MAX_BYTES}"),
            Self::TooManyPairs(n) => write!(f, "header pairs: {n} pairs, limit {PAIRS_MAX_COUNT}"),
            Self::Truncated => {
                f.write_str("header pairs: a length runs past the end of the buffer")
            }
            Self::MissingNul => {
                f.write_str("header pairs: a name or value lacks its NUL terminator")
            }
            Self::TrailingBytes(n) => write!(f, "header pairs: {n} bytes after the last pair"),
        }
    }
}

impl std::error::Error for PairsError {}

/// Decoded pairs: `(name, value)` bytes in wire order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Bytes [`encode`] produces for `pairs` (cpp-host `pairsSize`).
pub fn encoded_len<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> usize {
    pairs.iter().fold(4, |size, (k, v)| {
        size + 8 + k.as_ref().len() + 1 + v.as_ref().len() + 1
    })
}

/// Serializes `pairs` in order, repeated names kept as separate pairs.
pub fn encode<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(pairs));
    out.extend_from_slice(&len_u32(pairs.len()).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&len_u32(k.as_ref().len()).to_le_bytes());
        out.extend_from_slice(&len_u32(v.as_ref().len()).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// A length as the format's `u32`; host-side maps never come near 4 GiB, so saturating is moot.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Reads the format back into owned `(name, value)` pairs.
///
/// An empty buffer and a single `0x00` byte are both an empty map (the spec allows either).
pub fn decode(buf: &[u8]) -> Result<Pairs, PairsError> {
    if buf.len() > PAIRS_MAX_BYTES {
        return Err(PairsError::TooLarge(buf.len()));
    }
    if buf.is_empty() || buf == [0] {
        return Ok(Vec::new());
    }
    let mut reader = Reader { buf, pos: 0 };
    let count = reader.u32()?;
    let count_usize = usize::try_from(count).map_err(|_| PairsError::TooManyPairs(count))?;
    if count_usize > PAIRS_MAX_COUNT {
        return Err(PairsError::TooManyPairs(count));
    }
    let mut sizes = Vec::with_capacity(count_usize);
    for _ in 0..count_usize {
        let name = reader.u32()?;
        let value = reader.u32()?;
        sizes.push((name, value));
    }
    let mut pairs = Vec::with_capacity(count_usize);
    for (name_len, value_len) in sizes {
        let name = reader.nul_terminated(name_len)?;
        let value = reader.nul_terminated(value_len)?;
        pairs.push((name.to_vec(), value.to_vec()));
    }
    match buf.len() - reader.pos {
        0 => Ok(pairs),
        rest => Err(PairsError::TrailingBytes(rest)),
    }
}

/// A cursor over the serialized buffer that never reads past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PairsError> {
        let end = self.pos.checked_add(n).ok_or(PairsError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(PairsError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32, PairsError> {
        let bytes: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| PairsError::Truncated)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn nul_terminated(&mut self, len: u32) -> Result<&'a [u8], PairsError> {
        let len = usize::try_from(len).map_err(|_| PairsError::Truncated)?;
        let bytes = self.take(len)?;
        match self.take(1)? {
            [0] => Ok(bytes),
            _ => Err(PairsError::MissingNul),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn spec_example_serializes_as_documented() {
        // Spec "Serialization": {{"a": "1"}, {"b": "22"}}.
        let bytes = encode(&[("a", "1"), ("b", "22")]);
        #[rustfmt::skip]
        let expected = [
            2, 0, 0, 0,
            1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
            b'a', 0, b'1', 0, b'b', 0, b'2', b'2', 0,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(encoded_len(&[("a", "1"), ("b", "22")]), expected.len());
    }

    #[test]
    fn round_trip_keeps_order_and_repeated_names() {
        let pairs = [("traceparent", "a"), ("x", ""), ("traceparent", "b")];
        assert_eq!(decode(&encode(&pairs)).unwrap(), owned(&pairs));
    }

    #[test]
    fn empty_buffer_is_an_empty_map() {
        assert_eq!(decode(&[]).unwrap(), owned(&[]));
        assert_eq!(decode(&[0]).unwrap(), owned(&[]));
        assert_eq!(decode(&encode::<&str, &str>(&[])).unwrap(), owned(&[]));
    }

    #[rustfmt::skip]
    #[test]
    fn malformed_buffers_are_rejected() {
        let good = encode(&[("a", "1")]);
        let mut no_nul = good.clone();
        *no_nul.last_mut().unwrap() = b'x';
        let mut trailing = good.clone();
        trailing.push(0);
        let mut huge_len = good.clone();
        huge_len[4] = 0xff;
        let cases: [(&str, Vec<u8>, PairsError); 6] = [
            ("count without sizes", vec![1, 0, 0, 0],            PairsError::Truncated),
            ("short count",         vec![1, 0],                  PairsError::Truncated),
            ("missing NUL",         no_nul,                      PairsError::MissingNul),
            ("trailing byte",       trailing,                    PairsError::TrailingBytes(1)),
            ("name past the end",   huge_len,                    PairsError::Truncated),
            ("too many pairs",      2000u32.to_le_bytes().to_vec(), PairsError::TooManyPairs(2000)),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(decode(&bytes), Err(want), "{name}");
        }
        assert_eq!(decode(&vec![0; PAIRS_MAX_BYTES + 1]), Err(PairsError::TooLarge(PAIRS_MAX_BYTES + 1)));
    }
}
