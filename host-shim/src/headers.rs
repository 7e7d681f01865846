//! An HTTP header map as Envoy keeps it: ordered lines, repeated names kept, names lower-case.
//!
//! The operations mirror what Envoy's wasm `Context` does to its `HeaderMap` for each host call
//! (`source/extensions/common/wasm/context.cc`): `get` sees only the first line of a name, `add`
//! appends a line, `replace` (Envoy `setCopy`) overwrites the first line and drops the others,
//! `remove` drops every line. Values are bytes: a guest (or a test) may put anything there.

use std::fmt;

/// Ordered `(name, value)` lines; names are stored lower-cased, as Envoy's `LowerCaseString`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    lines: Vec<(String, Vec<u8>)>,
}

/// Lower-cases a header name the way Envoy does (ASCII only). Names are text: bytes that are not
/// UTF-8 become U+FFFD (Envoy's codecs reject such names before a filter sees them).
fn lower(name: &[u8]) -> String {
    String::from_utf8_lossy(name).to_ascii_lowercase()
}

impl HeaderMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self { lines: Vec::new() }
    }

    /// A map with these lines, in order (names lower-cased).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut map = Self::new();
        for (k, v) in pairs {
            map.add(k.as_ref(), v.as_ref());
        }
        map
    }

    /// The request lines Envoy's router sees first: `:method`, `:path`, `:authority`, `:scheme`.
    pub fn request(method: &str, path: &str, authority: &str) -> Self {
        Self::from_pairs([
            (":method", method),
            (":path", path),
            (":authority", authority),
            (":scheme", "http"),
        ])
    }

    /// Number of lines (a repeated name counts once per line), what Envoy passes as `num_headers`.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// No lines at all.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Envoy's `HeaderMap::byteSize()`: the sum of name and value lengths.
    pub fn byte_size(&self) -> usize {
        self.lines.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The first line's value for `name` (case-insensitive), as `proxy_get_header_map_value` does.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.lines
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// [`get`](Self::get) as text, `None` when absent or not UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every line's value for `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.lines
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// Appends a line (Envoy `addCopy`).
    pub fn add(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.lines
            .push((lower(name.as_ref()), value.as_ref().to_vec()));
    }

    /// Sets `name` to one line with `value` (Envoy `setCopy`): the first line keeps its place,
    /// later lines of the name go; appended when the name was absent.
    pub fn replace(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let name = lower(name.as_ref());
        let value = value.as_ref();
        let mut seen = false;
        self.lines.retain_mut(|(k, v)| {
            if *k != name {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            *v = value.to_vec();
            true
        });
        if !seen {
            self.lines.push((name, value.to_vec()));
        }
    }

    /// Drops every line of `name`.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) {
        let name = lower(name.as_ref());
        self.lines.retain(|(k, _)| *k != name);
    }

    /// The lines in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.lines.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The lines as `(name, value)` byte pairs, ready for [`crate::pairs::encode`].
    pub fn as_pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.lines
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_slice()))
            .collect()
    }
}

impl fmt::Debug for HeaderMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.lines
                    .iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl fmt::Display for HeaderMap {
    /// One `name: value` line per header, as a person reads a request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.lines {
            writeln!(f, "{k}: {}", String::from_utf8_lossy(v))?;
        }
        Ok(())
    }
}

/// Lets a map be passed wherever lines are expected, e.g. `host.request(&headers)`.
impl<'a> IntoIterator for &'a HeaderMap {
    type Item = (&'a str, &'a [u8]);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Vec<u8>)>,
        fn(&'a (String, Vec<u8>)) -> (&'a str, &'a [u8]),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.lines.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(K, V)> for HeaderMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(map: &HeaderMap) -> Vec<(String, String)> {
        map.iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    #[test]
    fn repeated_lines_are_kept_and_get_sees_the_first() {
        let map = HeaderMap::from_pairs([("TraceParent", "a"), ("x", "1"), ("traceparent", "b")]);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("traceparent"), Some(&b"a"[..]));
        assert_eq!(map.get_all("TRACEPARENT"), vec![&b"a"[..], &b"b"[..]]);
    }

    #[test]
    fn replace_keeps_the_first_position_and_drops_the_rest() {
        let mut map = HeaderMap::from_pairs([("t", "a"), ("x", "1"), ("t", "b")]);
        map.replace("T", "c");
        assert_eq!(
            lines(&map),
            [("t".into(), "c".into()), ("x".into(), "1".into())]
        );
        map.replace("new", "v");
        assert_eq!(map.get_str("new"), Some("v"));
    }

    #[test]
    fn remove_drops_every_line_and_byte_size_counts_names_and_values() {
        let mut map = HeaderMap::from_pairs([("t", "a"), ("x", "12"), ("t", "b")]);
        assert_eq!(map.byte_size(), 1 + 1 + 1 + 2 + 1 + 1);
        map.remove("t");
        assert_eq!(lines(&map), [("x".into(), "12".into())]);
    }
}
