//! OpenTelemetry HTTP semantic-convention names and the small parsers that feed them.
//!
//! Attribute names follow the stable HTTP conventions. The few Envoy facts that have no convention
//! use an `envoy.` prefix. Parsers work on borrowed strings and never fail: a value that does not
//! parse is left out rather than guessed.

/// `http.request.method`.
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`: the method as received, when it was normalised or unknown.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.response.status_code`.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `url.path`.
pub const URL_PATH: &str = "url.path";
/// `url.query`.
pub const URL_QUERY: &str = "url.query";
/// `url.scheme`.
pub const URL_SCHEME: &str = "url.scheme";
/// `url.full` (CLIENT spans; the query redacted like `url.query`).
pub const URL_FULL: &str = "url.full";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`.
pub const SERVER_PORT: &str = "server.port";
/// `client.address`.
pub const CLIENT_ADDRESS: &str = "client.address";
/// `client.port`.
pub const CLIENT_PORT: &str = "client.port";
/// `network.peer.address` (CLIENT spans: the upstream host).
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// `network.peer.port` (CLIENT spans: the upstream host's port).
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// `network.protocol.version`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `user_agent.original`.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// Envoy upstream cluster name (`xds.cluster_name`), on the span that stands for the upstream call.
pub const ENVOY_UPSTREAM_CLUSTER: &str = "envoy.upstream.cluster";
/// Envoy upstream host (`upstream.address`), on a SERVER span that stands for the upstream call
/// (a CLIENT span uses `network.peer.address` instead).
pub const ENVOY_UPSTREAM_ADDRESS: &str = "envoy.upstream.address";
/// Envoy route name (`xds.route_name`); not `http.route`, which must be a path template.
pub const ENVOY_ROUTE_NAME: &str = "envoy.route.name";
/// `sampling.priority`: 1 on kept spans, so downstream probabilistic samplers keep them.
pub const SAMPLING_PRIORITY: &str = "sampling.priority";
/// `hoptrace.kept`: why an unsampled request's span was kept (`error`, `slow`).
pub const HOPTRACE_KEPT: &str = "hoptrace.kept";
/// The sampling rule that decided the request: its `name`, else its index in `sampling.rules`.
pub const HOPTRACE_SAMPLING_RULE: &str = "hoptrace.sampling.rule";
/// Envoy `%RESPONSE_FLAGS%` codes, e.g. `UF,URX`, when any flag is set.
pub const ENVOY_RESPONSE_FLAGS: &str = "envoy.response_flags";
/// The CLIENT span event at the first byte of the upstream response. No semantic convention names
/// this instant; the name says what it is.
pub const EVENT_FIRST_RESPONSE_BYTE: &str = "first_response_byte";
/// `error.type` when the span failed and nothing names the cause (the convention's fallback).
pub const ERROR_TYPE_OTHER: &str = "_OTHER";
/// What replaces each `url.query` value when `redact_query` is on.
pub const REDACTED: &str = "REDACTED";

/// The methods the HTTP conventions call "known" (RFC 9110 plus PATCH).
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// A request method as the conventions want it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method<'a> {
    /// `http.request.method`: a known method in upper case, or `_OTHER`.
    pub normalized: &'static str,
    /// `http.request.method_original`, when it differs from `normalized`.
    pub original: Option<&'a str>,
}

impl Method<'_> {
    /// The method part of a span name: `HTTP` for unknown methods, as the conventions say.
    pub fn span_name_part(&self) -> &'static str {
        if self.normalized == "_OTHER" {
            "HTTP"
        } else {
            self.normalized
        }
    }
}

/// Normalise a method: case-insensitive match against the known methods.
pub fn method(raw: &str) -> Method<'_> {
    match KNOWN_METHODS.iter().find(|m| m.eq_ignore_ascii_case(raw)) {
        Some(m) => Method {
            normalized: m,
            original: (*m != raw).then_some(raw),
        },
        None => Method {
            normalized: "_OTHER",
            original: Some(raw),
        },
    }
}

/// Split `:path` into path and query (without `?`); a fragment, if a client sent one, is dropped.
pub fn split_path(path_and_query: &str) -> (&str, Option<&str>) {
    // One byte loop to the first '?' or '#' (every sampled request runs this).
    let b = path_and_query.as_bytes();
    let Some(at) = b.iter().position(|c| *c == b'?' || *c == b'#') else {
        return (path_and_query, None);
    };
    let path = path_and_query.get(..at).unwrap_or(path_and_query);
    if b.get(at) == Some(&b'#') {
        return (path, None);
    }
    let rest = path_and_query.get(at + 1..).unwrap_or("");
    let query = match rest.as_bytes().iter().position(|c| *c == b'#') {
        Some(end) => rest.get(..end).unwrap_or(rest),
        None => rest,
    };
    (path, Some(query))
}

/// Longest query key kept by [`redact_query`], in bytes: enough for any parameter name, too short
/// to carry a token a client put where a key goes.
pub const MAX_QUERY_KEY_BYTES: usize = 32;

/// The query with every value replaced by `REDACTED`: `a=1&b&c=` → `a=REDACTED&REDACTED&c=REDACTED`.
/// Keys tell what was asked and are kept up to [`MAX_QUERY_KEY_BYTES`]; values, and components
/// without `=` (often a bare token), may hold credentials or personal data and are never kept.
/// Empty components stay empty. Whole components are written until the output reaches `stop_after`
/// bytes, so a long query costs no more than the attribute limit (the caller cuts the rest).
///
/// Redacting an output again gives the same output, so a query may be redacted once when it is
/// recorded and again when the span is built.
pub fn redact_query(query: &str, stop_after: usize) -> String {
    let mut out = String::with_capacity(query.len().min(stop_after.saturating_add(64)));
    for (i, pair) in query.split('&').enumerate() {
        if out.len() >= stop_after {
            break;
        }
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) => {
                out.push_str(crate::text::truncate_at_char(k, MAX_QUERY_KEY_BYTES));
                out.push('=');
                out.push_str(REDACTED);
            }
            None if pair.is_empty() => {}
            None => out.push_str(REDACTED),
        }
    }
    out
}

/// Split `host[:port]` / `[v6][:port]` into host and port. The host keeps no brackets. A port that is
/// not a number makes the port `None` (and the whole string the host, minus brackets).
pub fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':').and_then(parse_port)),
            None => (s, None),
        };
    }
    // One byte loop from the end (the port's digits, then its ':'), then one over the host: three
    // of these run per sampled request, and the general string searches cost several times more.
    let b = s.as_bytes();
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let Some(colon) = b.len().checked_sub(digits + 1) else {
        return (s, None);
    };
    if digits == 0 || b.get(colon) != Some(&b':') {
        return (s, None);
    }
    let (Some(host), Some(port)) = (s.get(..colon), s.get(colon + 1..)) else {
        return (s, None);
    };
    // More than one ':' without brackets is a bare IPv6 address, not host:port.
    if host.bytes().any(|c| c == b':') {
        return (s, None);
    }
    match parse_port(port) {
        Some(p) => (host, Some(p)),
        None => (s, None),
    }
}

/// A port: ASCII digits only, at most 65535.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u16, |n, c| {
        let digit = c.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u16::from(digit))
    })
}

/// The default port of a URL scheme.
pub fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else {
        None
    }
}

/// `network.protocol.version` from `1.1`, `HTTP/1.1`, `HTTP/2`, …; `None` when empty.
pub fn protocol_version(raw: &str) -> Option<&str> {
    let v = raw
        .strip_prefix("HTTP/")
        .or_else(|| raw.strip_prefix("http/"))
        .unwrap_or(raw);
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const METHODS: &[(&str, &str, Option<&str>)] = &[
        ("GET",     "GET",    None),
        ("get",     "GET",    Some("get")),
        ("PATCH",   "PATCH",  None),
        ("PURGE",   "_OTHER", Some("PURGE")),
        ("",        "_OTHER", Some("")),
    ];

    #[test]
    fn method_table() {
        for (raw, norm, orig) in METHODS {
            let m = method(raw);
            assert_eq!(m.normalized, *norm, "{raw}");
            assert_eq!(m.original, *orig, "{raw}");
        }
        assert_eq!(method("PURGE").span_name_part(), "HTTP");
    }

    #[rustfmt::skip]
    const QUERIES: &[(&str, &str)] = &[
        ("a=1&b=2",                       "a=REDACTED&b=REDACTED"),
        ("flag",                          "REDACTED"),
        ("eyJhbGciOiJIUzI1NiJ9.e30.sig",  "REDACTED"),
        ("a=&b",                          "a=REDACTED&REDACTED"),
        ("token=x=y",                     "token=REDACTED"),
        ("a=1&&b=2",                      "a=REDACTED&&b=REDACTED"),
        ("=&=&=",                         "=REDACTED&=REDACTED&=REDACTED"),
        ("",                              ""),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=REDACTED"),
    ];

    #[test]
    fn redact_table() {
        for (q, want) in QUERIES {
            assert_eq!(redact_query(q, usize::MAX), *want, "{q}");
            assert_eq!(
                redact_query(want, usize::MAX),
                *want,
                "{q}: redacting again changes it"
            );
        }
    }

    #[test]
    fn redaction_stops_past_the_limit() {
        let hostile = "=&".repeat(8 * 1024);
        let out = redact_query(&hostile, 1024);
        assert!(out.len() < 1024 + 9 + 1, "{}", out.len());
        assert!(out.starts_with("=REDACTED&=REDACTED"));
    }

    proptest::proptest! {
        #[test]
        fn redaction_is_idempotent_and_keeps_no_value(q in "[a-z=&é]{0,40}") {
            let once = redact_query(&q, usize::MAX);
            proptest::prop_assert_eq!(redact_query(&once, usize::MAX), once.clone());
            for part in once.split('&') {
                proptest::prop_assert!(part.is_empty() || part == REDACTED || part.ends_with("=REDACTED"));
            }
        }
    }

    #[rustfmt::skip]
    const HOSTS: &[(&str, &str, Option<u16>)] = &[
        ("example.com",        "example.com", None),
        ("example.com:8080",   "example.com", Some(8080)),
        ("10.0.0.1:443",       "10.0.0.1",    Some(443)),
        ("[::1]:9000",         "::1",         Some(9000)),
        ("[::1]",              "::1",         None),
        ("::1",                "::1",         None),
        ("host:notaport",      "host:notaport", None),
        ("host:99999",         "host:99999",  None),
    ];

    #[test]
    fn host_port_table() {
        for (s, host, port) in HOSTS {
            assert_eq!(split_host_port(s), (*host, *port), "{s}");
        }
    }

    /// The definition the byte loops must keep: split at the last ':' unless the host has one too.
    fn split_host_port_by_definition(s: &str) -> (&str, Option<u16>) {
        if s.starts_with('[') {
            return split_host_port(s);
        }
        let port = |p: &str| -> Option<u16> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        match s.rsplit_once(':') {
            Some((host, p)) if !host.contains(':') => match port(p) {
                Some(p) => (host, Some(p)),
                None => (s, None),
            },
            _ => (s, None),
        }
    }

    /// The definition the byte loop must keep: drop the fragment, then split at the first '?'.
    fn split_path_by_definition(s: &str) -> (&str, Option<&str>) {
        let no_fragment = s.split_once('#').map_or(s, |(p, _)| p);
        match no_fragment.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (no_fragment, None),
        }
    }

    proptest::proptest! {
        #[test]
        fn path_split_matches_its_definition(s in "[a/?#=&é]{0,12}|.{0,16}") {
            proptest::prop_assert_eq!(split_path(&s), split_path_by_definition(&s));
        }

        #[test]
        fn host_port_matches_its_definition(
            s in "[a-z0-9.:\\[\\]]{0,12}|[0-9]{1,3}(\\.[0-9]{1,3}){3}:[0-9]{0,7}|.{0,16}"
        ) {
            proptest::prop_assert_eq!(split_host_port(&s), split_host_port_by_definition(&s));
        }
    }

    #[test]
    fn paths_and_versions() {
        assert_eq!(split_path("/a/b?x=1#frag"), ("/a/b", Some("x=1")));
        assert_eq!(split_path("/a"), ("/a", None));
        assert_eq!(protocol_version("HTTP/1.1"), Some("1.1"));
        assert_eq!(protocol_version("2"), Some("2"));
        assert_eq!(protocol_version(""), None);
        assert_eq!(default_port("HTTPS"), Some(443));
        assert_eq!(default_port("ftp"), None);
    }
}
