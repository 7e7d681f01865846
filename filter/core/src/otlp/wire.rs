//! Protobuf wire-format primitives: varints, field keys and length-delimited field headers, shared
//! by the batch framing and the per-span encoder.

/// Wire type 2: length-delimited (bytes, strings, embedded messages).
const LEN: u32 = 2;

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

/// Bytes the key of `field` takes.
pub(crate) fn key_len(field: u32) -> usize {
    varint_len(u64::from(field << 3))
}

/// Append the key of `field` with wire type `wire`.
pub(crate) fn put_key(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from((field << 3) | wire));
}

/// Bytes a length-delimited `field` with a `len`-byte payload takes, key included.
pub(crate) fn field_len(field: u32, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

/// Append the key and length of a length-delimited `field` whose payload follows.
pub(crate) fn put_field_header(out: &mut Vec<u8>, field: u32, len: usize) {
    put_key(out, field, LEN);
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
        let mut keys = Vec::new();
        put_field_header(&mut keys, 1, 0);
        put_field_header(&mut keys, 16, 0);
        assert_eq!(keys, [0x0a, 0, 0x82, 0x01, 0]);
        assert_eq!((field_len(1, 0), field_len(16, 200)), (2, 204));
    }
}
