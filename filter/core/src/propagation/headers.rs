//! The request headers as the propagators see them: every `(name, value)` line, in arrival order.
//!
//! Envoy hands a filter all request header lines at once (`get_http_request_headers`), one pair per
//! line, with lower-case names; repeated headers arrive as separate pairs. The propagation rules depend
//! on that: two `traceparent` lines make the context invalid, and `tracestate` / `baggage` lines are
//! joined with `,` in order. [`HeaderLines`] borrows those pairs without copying them, and looks a name
//! up by scanning (a request has a few dozen headers; a scan is cheaper than building a map on every
//! request).
//!
//! The hop code calls it like this:
//!
//! ```
//! use hoptrace_core::propagation::{parse_traceparent, parse_tracestate, HeaderLines};
//!
//! let pairs = [
//!     ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".as_slice()),
//!     ("tracestate", b"ot=th:8".as_slice()),
//! ];
//! let h = HeaderLines::new(&pairs);
//! let tp = parse_traceparent(&h.lines("traceparent")).unwrap().unwrap();
//! let ts = parse_tracestate(&h.lines("tracestate")).unwrap();
//! assert!(tp.flags.sampled());
//! assert_eq!(ts.get("ot"), Some("th:8"));
//! ```

/// A borrowed view of all request header lines.
///
/// Built from any slice of pairs whose name is string-like and whose value is byte-like, so both
/// `&[(&str, &[u8])]` and the proxy-wasm SDK's `Vec<(String, Vec<u8>)>` (or `Vec<(String, Bytes)>`)
/// work without conversion. Names are compared ASCII case-insensitively: Envoy already gives them in
/// lower case, and the comparison costs the same, so a test or another host that does not is still
/// read correctly. Values are returned exactly as stored (no trimming, no UTF-8 check): each parser
/// decides what it accepts.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLines<'a, K = &'a str, V = &'a [u8]> {
    pairs: &'a [(K, V)],
}

impl<'a, K: AsRef<str>, V: AsRef<[u8]>> HeaderLines<'a, K, V> {
    /// Wrap the header pairs (one pair per header line, in arrival order).
    pub fn new(pairs: &'a [(K, V)]) -> Self {
        HeaderLines { pairs }
    }

    /// Every value of header `name`, in arrival order; empty when the header is absent.
    ///
    /// This is the input the `parse_*` functions take: `parse_traceparent(&h.lines("traceparent"))`.
    /// It allocates only when the header is present.
    pub fn lines(&self, name: &str) -> Vec<&'a [u8]> {
        self.iter(name).collect()
    }

    /// The values of header `name`, in arrival order, without allocating.
    pub fn iter<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The first value of header `name`, if any.
    pub fn first(&self, name: &str) -> Option<&'a [u8]> {
        self.iter(name).next()
    }

    /// How many lines header `name` has.
    pub fn count(&self, name: &str) -> usize {
        self.iter(name).count()
    }

    /// Whether header `name` has at least one line.
    pub fn contains(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// All pairs, as given.
    pub fn pairs(&self) -> &'a [(K, V)] {
        self.pairs
    }
}

/// Strip optional whitespace (OWS: spaces and horizontal tabs, RFC 9110) from both ends.
///
/// Envoy trims header values already; the parsers trim again so a value from another host, or a
/// list member between commas, is read the same way.
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let is_ows = |c: &u8| *c == b' ' || *c == b'\t';
    let start = s.iter().position(|c| !is_ows(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !is_ows(c)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_order_and_case_insensitive() {
        let pairs = vec![
            ("tracestate".to_string(), b"a=1".to_vec()),
            ("x".to_string(), b"y".to_vec()),
            ("TraceState".to_string(), b"b=2".to_vec()),
        ];
        let h = HeaderLines::new(&pairs);
        assert_eq!(
            h.lines("tracestate"),
            vec![b"a=1".as_slice(), b"b=2".as_slice()]
        );
        assert_eq!(h.count("tracestate"), 2);
        assert_eq!(h.first("x"), Some(b"y".as_slice()));
        assert!(h.lines("traceparent").is_empty());
        assert!(!h.contains("traceparent"));
    }

    #[rustfmt::skip]
    #[test]
    fn ows_trimming() {
        for (input, want) in [
            (&b""[..],        &b""[..]),
            (b"   ",          b""),
            (b" \ta b\t ",    b"a b"),
            (b"x",            b"x"),
        ] {
            assert_eq!(trim_ows(input), want);
        }
    }
}
