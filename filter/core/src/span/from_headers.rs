//! The request facts that come from the header lines the hop already read (no host call).

use crate::propagation::HeaderLines;
use crate::span::{capture_headers, RequestFacts};
use std::collections::BTreeMap;

impl RequestFacts {
    /// Method, path, scheme, authority, user agent and the configured captured headers, from the
    /// request's header lines (pseudo-headers included, as Envoy hands them to the filter). The
    /// host-only facts (protocol, client address, start time) are left for the caller.
    pub fn from_headers<K, V>(
        headers: &HeaderLines<'_, K, V>,
        wanted: &BTreeMap<String, String>,
    ) -> Self
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let text = |name: &str| headers.first(name).map(text_of).unwrap_or_default();
        let authority = match headers.first(":authority") {
            Some(v) => text_of(v),
            None => text("host"),
        };
        let captured = if wanted.is_empty() {
            Vec::new()
        } else {
            let pairs: Vec<(&str, String)> = headers
                .pairs()
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref()))
                .filter(|(k, _)| wanted.keys().any(|w| w.eq_ignore_ascii_case(k)))
                .map(|(k, v)| (k, text_of(v)))
                .collect();
            capture_headers(wanted, pairs.iter().map(|(k, v)| (*k, v.as_str())))
        };
        RequestFacts {
            method: text(":method"),
            path: text(":path"),
            scheme: text(":scheme"),
            authority,
            user_agent: text("user-agent"),
            captured_headers: captured,
            ..RequestFacts::default()
        }
    }
}

/// A header value as text, invalid UTF-8 replaced.
fn text_of(bytes: &[u8]) -> String {
    match crate::text::utf8(bytes) {
        Some(text) => text.to_owned(),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}
