//! The proxy-wasm pairs wire format, read in place.
//!
//! `proxy_get_header_map_pairs` returns one buffer: a u32 count, `count` pairs of u32 (name length,
//! value length), then each name and value followed by a NUL. Envoy serializes a CEL list the same
//! way, one element per name with an empty value. We view names and values as slices of that
//! buffer instead of allocating a `String` per entry (the SDK does, and panics on non-UTF-8).

/// Header lines borrowed from a serialized map. Names that are not UTF-8 are skipped (Envoy's codecs
/// only pass token characters in names, so this never happens in practice).
pub fn decode(buf: &[u8]) -> Vec<(&str, &[u8])> {
    let mut out = Vec::with_capacity(entry_count(buf));
    for_each_entry(buf, |k, v| {
        if let Some(name) = hoptrace_core::text::utf8(k) {
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
    read_u32(buf, 0).map_or(0, |count| count.min(buf.len() / 8))
}

/// Every (name, value) entry in order, straight from the buffer; a truncated buffer yields the
/// entries before the cut.
fn for_each_entry<'a>(buf: &'a [u8], mut each: impl FnMut(&'a [u8], &'a [u8])) {
    let Some(count) = read_u32(buf, 0) else {
        return;
    };
    let mut data = 4usize.saturating_add(count.saturating_mul(8));
    for i in 0..count {
        let at = 4 + i * 8;
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
/// The shim's host side has the same encoder for the other direction of the ABI.
pub fn encode<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let bytes: usize = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + bytes);
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
