//! The proxy-wasm pairs wire format: how a host hands over a header map, and how Envoy serializes
//! a CEL list.
//!
//! One buffer: a u32 count, `count` pairs of u32 (name length, value length), then each name and
//! value followed by a NUL (all integers little-endian). A CEL list comes in the same shape, one
//! element per name with an empty value. Names and values are viewed as slices of the buffer
//! instead of being copied into a `String` each, and a buffer that lies about its sizes yields the
//! entries before the lie, never a panic or an allocation larger than the buffer.

/// Bytes one entry takes in the size table (two u32).
const SIZE_ENTRY: usize = 8;
/// Bytes of the leading count.
const COUNT: usize = 4;

/// Header lines borrowed from a serialized map. Names that are not UTF-8 are skipped (Envoy's codecs
/// only pass token characters in names, so this never happens in practice).
pub fn decode(buf: &[u8]) -> Vec<(&str, &[u8])> {
    let mut out = Vec::with_capacity(entry_count(buf));
    for_each_entry(buf, |k, v| {
        if let Some(name) = crate::text::utf8(k) {
            out.push((name, v));
        }
    });
    out
}

/// The elements of a serialized CEL list (the names; binary, e.g. 8-byte integers).
pub fn list_elements(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(entry_count(buf));
    for_each_entry(buf, |k, _| out.push(k));
    out
}

fn read_u32(buf: &[u8], at: usize) -> Option<usize> {
    let b = buf.get(at..at.checked_add(4)?)?;
    let arr: [u8; 4] = b.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(arr)).ok()
}

/// How many entries the buffer says it has, capped by what its size could describe, so a hostile
/// count cannot make us allocate more than the buffer.
fn entry_count(buf: &[u8]) -> usize {
    read_u32(buf, 0).map_or(0, |count| count.min(buf.len() / SIZE_ENTRY))
}

/// Every (name, value) entry in order, straight from the buffer; a truncated buffer yields the
/// entries before the cut.
fn for_each_entry<'a>(buf: &'a [u8], mut each: impl FnMut(&'a [u8], &'a [u8])) {
    let Some(count) = read_u32(buf, 0) else {
        return;
    };
    let mut data = COUNT.saturating_add(count.saturating_mul(SIZE_ENTRY));
    for i in 0..count {
        let at = COUNT + i * SIZE_ENTRY;
        let (Some(klen), Some(vlen)) = (read_u32(buf, at), read_u32(buf, at + 4)) else {
            break;
        };
        let kend = data.saturating_add(klen);
        let vstart = kend.saturating_add(1);
        let vend = vstart.saturating_add(vlen);
        let (Some(k), Some(v)) = (buf.get(data..kend), buf.get(vstart..vend)) else {
            break;
        };
        each(k, v);
        data = vend.saturating_add(1);
    }
}

/// Serialize (name, value) pairs in the same format, for the host to read (callout headers).
pub fn encode<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let bytes: usize = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(COUNT + pairs.len() * SIZE_ENTRY + bytes);
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

/// A length in the format's u32 (no header or callout comes near 4 GiB; saturate if one did).
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_keeps_order_and_repeats() {
        let pairs = [
            (":method", &b"GET"[..]),
            ("traceparent", b"a"),
            ("traceparent", b"b"),
            ("x-empty", b""),
        ];
        assert_eq!(decode(&encode(&pairs)), pairs);
    }

    #[test]
    fn a_list_is_its_names() {
        let list = encode(&[(&7_i64.to_le_bytes()[..], &b""[..]), (b"up", b"")]);
        assert_eq!(list_elements(&list), [&7_i64.to_le_bytes()[..], b"up"]);
    }

    #[rustfmt::skip]
    const MALFORMED: &[(&str, &[u8], usize)] = &[
        ("empty buffer",                     b"",                                       0),
        ("count cut short",                  b"\x01\x00",                               0),
        ("count without sizes",              b"\x01\x00\x00\x00",                       0),
        ("huge count, no table",             b"\xff\xff\xff\xff",                       0),
        ("size past the end",                b"\x01\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00ab\x00\x00", 0),
        ("no NUL room for the value",        b"\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00a",        0),
        ("second entry cut",                 b"\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00a\x00b\x00c", 1),
        ("non-UTF-8 name skipped",           b"\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xff\x00\x00", 0),
    ];

    #[test]
    fn malformed_buffers_yield_the_entries_before_the_fault() {
        for (case, buf, want) in MALFORMED {
            assert_eq!(decode(buf).len(), *want, "{case}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panic(buf in prop::collection::vec(any::<u8>(), 0..200)) {
            let lines = decode(&buf);
            prop_assert!(lines.len() <= buf.len() / SIZE_ENTRY);
            let _ = list_elements(&buf);
        }

        #[test]
        fn encode_decode_round_trip(pairs in prop::collection::vec(("[a-z:-]{1,12}", prop::collection::vec(any::<u8>(), 0..20)), 0..12)) {
            let encoded = encode(&pairs);
            let decoded = decode(&encoded);
            let want: Vec<(&str, &[u8])> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
            prop_assert_eq!(decoded, want);
        }
    }
}
