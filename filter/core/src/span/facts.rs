//! What the plugin knows about one request, as plain owned data.
//!
//! The plugin fills [`RequestFacts`] from the request headers and host properties it reads anyway when
//! a request is sampled, and [`ResponseFacts`] at stream end (`on_log`). Nothing here calls the host;
//! absent properties are empty strings, `0` or `None`.

use std::collections::BTreeMap;

/// The downstream request, as seen in `on_http_request_headers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// `:method` exactly as received (case kept: normalisation happens when building attributes).
    pub method: String,
    /// `:path`, including the query string if any.
    pub path: String,
    /// `:scheme` (`http` / `https`), empty if unknown.
    pub scheme: String,
    /// `:authority` (or `host`), possibly with a port.
    pub authority: String,
    /// `user-agent`, empty if absent.
    pub user_agent: String,
    /// Protocol version: `1.0`, `1.1`, `2`, `3`; Envoy's `request.protocol` form (`HTTP/1.1`) is
    /// accepted too.
    pub protocol: String,
    /// Downstream peer, Envoy `source.address` (`ip:port` or `[v6]:port`), empty if unknown.
    pub client_address: String,
    /// Captured request headers: (attribute name, value), see [`capture_headers`].
    pub captured_headers: Vec<(String, String)>,
    /// Request start, ns since the Unix epoch (Envoy `request.time`).
    pub start_unix_nano: u64,
}

/// How the stream ended, as seen in `on_log`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// `response.code`; 0 when no response was sent (reset before headers).
    pub status_code: u16,
    /// Envoy `response.flags` bitmask (see [`crate::span::envoy_flags`]).
    pub response_flags: u64,
    /// Envoy `response.code_details`, e.g. `via_upstream` or `upstream_reset_before_response_started{…}`.
    pub response_code_details: String,
    /// Envoy `xds.cluster_name`: the upstream cluster, empty if none was chosen.
    pub upstream_cluster: String,
    /// Envoy `upstream.address` (`ip:port`), empty if no host was selected.
    pub upstream_address: String,
    /// Envoy `xds.route_name`, empty when the route has no name.
    pub route_name: String,
    /// Captured response headers: (attribute name, value), see [`capture_headers`].
    pub captured_headers: Vec<(String, String)>,
    /// When the request was handed on towards the router (ns since epoch); `None` if it never was
    /// (e.g. a local reply before routing). The CLIENT span starts here.
    pub upstream_start_unix_nano: Option<u64>,
    /// First byte of the upstream response (ns since epoch), when one arrived.
    pub first_upstream_byte_unix_nano: Option<u64>,
    /// Stream end, ns since the Unix epoch.
    pub end_unix_nano: u64,
}

/// Pick the configured headers out of `headers` as (attribute name, value) pairs.
///
/// `wanted` maps lower-case header names to attribute names (`attributes.request_headers` /
/// `.response_headers`). Header names are compared case-insensitively; repeated lines are joined with
/// `,` (the HTTP list form), in the order received. The result follows the order of `wanted`.
pub fn capture_headers<'a, I>(
    wanted: &BTreeMap<String, String>,
    headers: I,
) -> Vec<(String, String)>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<Option<String>> = vec![None; wanted.len()];
    for (name, value) in headers {
        let Some(i) = wanted.keys().position(|w| w.eq_ignore_ascii_case(name)) else {
            continue;
        };
        if let Some(slot) = found.get_mut(i) {
            match slot {
                Some(v) => {
                    v.push(',');
                    v.push_str(value);
                }
                None => *slot = Some(value.to_owned()),
            }
        }
    }
    wanted
        .values()
        .zip(found)
        .filter_map(|(attr, v)| v.map(|v| (attr.clone(), v)))
        .collect()
}

/// The status code in a response's `:status` header value; 0 (no status) unless it is three ASCII
/// digits from 100 to 599.
pub fn status_from_header(value: &[u8]) -> u16 {
    match value {
        [a, b, c] if value.iter().all(u8::is_ascii_digit) => {
            let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            if (100..600).contains(&code) {
                code
            } else {
                0
            }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_from_header_takes_three_digits_only() {
        for (value, want) in [
            (&b"200"[..], 200),
            (b"503", 503),
            (b"101", 101),
            (b"099", 0),
            (b"600", 0),
            (b"20", 0),
            (b"2000", 0),
            (b" 200", 0),
            (b"2x0", 0),
            (b"", 0),
        ] {
            assert_eq!(status_from_header(value), want, "{value:?}");
        }
    }

    #[test]
    fn capture_joins_repeats_and_ignores_case() {
        let wanted: BTreeMap<String, String> = [
            ("x-tenant".to_string(), "app.tenant".to_string()),
            ("x-missing".to_string(), "app.missing".to_string()),
            ("accept".to_string(), "http.accept".to_string()),
        ]
        .into_iter()
        .collect();
        let headers = [
            ("Accept", "text/html"),
            ("x-tenant", "acme"),
            ("accept", "application/json"),
        ];
        let got = capture_headers(&wanted, headers.iter().map(|(n, v)| (*n, *v)));
        assert_eq!(
            got,
            vec![
                (
                    "http.accept".to_string(),
                    "text/html,application/json".to_string()
                ),
                ("app.tenant".to_string(), "acme".to_string()),
            ]
        );
    }

    #[test]
    fn capture_nothing_configured() {
        let got = capture_headers(&BTreeMap::new(), [("a", "b")]);
        assert!(got.is_empty());
    }
}
