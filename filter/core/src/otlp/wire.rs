//! Protobuf wire-format primitives for framing: varints and length-delimited field headers.

/// Wire type 2 (length-delimited) key for `field`.
pub(crate) const fn len_key(field: u32) -> u8 {
    // Framing only uses fields 1 and 2, whose keys fit in one byte.
    ((field << 3) | 2) as u8
}

/// Bytes a varint of `v` takes.
pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Append `v` as a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes a length-delimited field with a `len`-byte payload takes (one-byte key).
pub(crate) fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// Append the key and length of a length-delimited `field` whose payload follows.
pub(crate) fn put_field_header(out: &mut Vec<u8>, field: u32, len: usize) {
    out.push(len_key(field));
    put_varint(out, len as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut buf = out.as_slice();
            assert_eq!(prost::encoding::decode_varint(&mut buf).unwrap(), v);
        }
        assert_eq!(len_key(1), 0x0a);
        assert_eq!(len_key(2), 0x12);
    }
}
