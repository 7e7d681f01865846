//! Properties (`proxy_get_property`) with Envoy's encodings.
//!
//! A guest names a property by its path segments joined with NUL (`xds\0listener_direction`); the
//! value is bytes: strings as UTF-8, integers as int64 little-endian, timestamps as int64 ns since
//! the epoch (Envoy's `serializeValue`). A test names the same property with dots
//! (`xds.listener_direction`) or with explicit segments when a segment itself holds a dot.

use std::collections::BTreeMap;

/// The NUL-joined key a guest passes for `path`, split on dots.
pub fn dotted_key(path: &str) -> Vec<u8> {
    segments_key(path.split('.'))
}

/// The NUL-joined key for explicit segments (for segments that contain dots).
pub fn segments_key<'a>(segments: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut key = Vec::new();
    for (i, segment) in segments.into_iter().enumerate() {
        if i > 0 {
            key.push(0);
        }
        key.extend_from_slice(segment.as_bytes());
    }
    key
}

/// A key as a person writes it: NULs shown as dots.
pub fn display_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', ".")
}

/// Envoy's encoding of an int64 property.
pub fn encode_i64(value: i64) -> Vec<u8> {
    value.to_le_bytes().to_vec()
}

/// Properties keyed by their NUL-joined path.
#[derive(Clone, Debug, Default)]
pub struct Properties {
    values: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Properties {
    /// Sets the value at a NUL-joined key.
    pub fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.values.insert(key, value);
    }

    /// Removes the value at a NUL-joined key.
    pub fn remove(&mut self, key: &[u8]) {
        self.values.remove(key);
    }

    /// The value at a NUL-joined key.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.values.get(key).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_and_segment_keys_match_the_guest_encoding() {
        assert_eq!(
            dotted_key("xds.listener_direction"),
            b"xds\0listener_direction"
        );
        assert_eq!(
            segments_key(["xds", "node", "metadata", "istio.io/rev"]),
            b"xds\0node\0metadata\0istio.io/rev"
        );
        assert_eq!(display_key(b"request\0time"), "request.time");
        assert_eq!(encode_i64(2), [2, 0, 0, 0, 0, 0, 0, 0]);
    }
}
