//! Envoy response flags (`response.flags`) and what they mean for a span.
//!
//! Envoy's `response.flags` property is `StreamInfo::legacyResponseFlags()`: bit `n` is set for the
//! `n`-th value of `enum CoreResponseFlag` (envoy/stream_info/stream_info.h). The order below is that
//! enum's order; the short codes are those of the `%RESPONSE_FLAGS%` access-log operator.

/// One response flag: its bit, access-log short code, and the `error.type` it implies (if it marks a
/// failed request by itself, i.e. a reset, timeout or connection failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseFlag {
    /// The bit in `response.flags`.
    pub bit: u64,
    /// The `%RESPONSE_FLAGS%` code, e.g. `UF`.
    pub code: &'static str,
    /// `error.type` when this flag alone makes the span an error; `None` for flags that only
    /// explain a status code (e.g. `NR` → 404) or are not failures (`DI`, `RFCF`).
    pub error_type: Option<&'static str>,
}

const fn flag(index: u32, code: &'static str, error_type: Option<&'static str>) -> ResponseFlag {
    ResponseFlag {
        bit: 1 << index,
        code,
        error_type,
    }
}

/// `UpstreamRequestTimeout` (UT).
pub const UPSTREAM_REQUEST_TIMEOUT: u64 = 1 << 2;
/// `LocalReset` (LR).
pub const LOCAL_RESET: u64 = 1 << 3;
/// `UpstreamRemoteReset` (UR).
pub const UPSTREAM_REMOTE_RESET: u64 = 1 << 4;
/// `UpstreamConnectionFailure` (UF).
pub const UPSTREAM_CONNECTION_FAILURE: u64 = 1 << 5;
/// `NoRouteFound` (NR).
pub const NO_ROUTE_FOUND: u64 = 1 << 8;
/// `DownstreamConnectionTermination` (DC).
pub const DOWNSTREAM_CONNECTION_TERMINATION: u64 = 1 << 14;
/// `UpstreamRetryLimitExceeded` (URX).
pub const UPSTREAM_RETRY_LIMIT_EXCEEDED: u64 = 1 << 15;

/// Every core flag, in `CoreResponseFlag` order (bit n = index n). When several error flags are set,
/// the first one here names `error.type`: the order puts the most specific cause (timeout, connect
/// failure) before its consequences (retry limit exceeded).
#[rustfmt::skip]
pub const FLAGS: [ResponseFlag; 30] = [
    flag(0,  "LH",    Some("failed_local_health_check")),
    flag(1,  "UH",    Some("no_healthy_upstream")),
    flag(2,  "UT",    Some("timeout")),
    flag(3,  "LR",    Some("local_reset")),
    flag(4,  "UR",    Some("upstream_reset")),
    flag(5,  "UF",    Some("connection_failure")),
    flag(6,  "UC",    Some("upstream_connection_termination")),
    flag(7,  "UO",    Some("upstream_overflow")),
    flag(8,  "NR",    None),
    flag(9,  "DI",    None),
    flag(10, "FI",    None),
    flag(11, "RL",    None),
    flag(12, "UAEX",  None),
    flag(13, "RLSE",  None),
    flag(14, "DC",    Some("downstream_connection_termination")),
    flag(15, "URX",   Some("upstream_retry_limit_exceeded")),
    flag(16, "SI",    Some("timeout")),
    flag(17, "IH",    None),
    flag(18, "DPE",   None),
    flag(19, "UMSDR", Some("timeout")),
    flag(20, "RFCF",  None),
    flag(21, "NFCF",  None),
    flag(22, "DT",    Some("timeout")),
    flag(23, "UPE",   Some("upstream_protocol_error")),
    flag(24, "NC",    None),
    flag(25, "OM",    Some("overload")),
    flag(26, "DF",    Some("dns_resolution_failed")),
    flag(27, "DO",    Some("drop_overload")),
    flag(28, "DR",    Some("downstream_reset")),
    flag(29, "UDO",   Some("drop_overload")),
];

/// The `error.type` implied by the first error flag set in `flags`, if any.
pub fn error_type(flags: u64) -> Option<&'static str> {
    if flags == 0 {
        return None;
    }
    FLAGS
        .iter()
        .find(|f| flags & f.bit != 0 && f.error_type.is_some())
        .and_then(|f| f.error_type)
}

/// The access-log form: set flags' codes joined with `,` (empty when none are set).
// Out of line and cold: only requests Envoy flagged (errors) format their flags.
#[cold]
#[inline(never)]
pub fn codes(flags: u64) -> String {
    let mut out = String::new();
    for f in FLAGS.iter().filter(|f| flags & f.bit != 0) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(f.code);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_enum_order() {
        for (i, f) in FLAGS.iter().enumerate() {
            assert_eq!(f.bit, 1u64 << i, "{}", f.code);
        }
        assert_eq!(UPSTREAM_REQUEST_TIMEOUT, 0x4);
        assert_eq!(UPSTREAM_CONNECTION_FAILURE, 0x20);
        assert_eq!(UPSTREAM_REMOTE_RESET, 0x10);
        assert_eq!(NO_ROUTE_FOUND, 0x100);
        assert_eq!(DOWNSTREAM_CONNECTION_TERMINATION, 0x4000);
    }

    #[rustfmt::skip]
    const ERROR_TYPES: &[(&str, u64, Option<&str>)] = &[
        ("none",                          0,                                   None),
        ("UT upstream timeout",           UPSTREAM_REQUEST_TIMEOUT,            Some("timeout")),
        ("UF connect failure",            UPSTREAM_CONNECTION_FAILURE,         Some("connection_failure")),
        ("UR remote reset",               UPSTREAM_REMOTE_RESET,               Some("upstream_reset")),
        ("UF+URX names the cause",        UPSTREAM_CONNECTION_FAILURE | UPSTREAM_RETRY_LIMIT_EXCEEDED, Some("connection_failure")),
        ("NR explains a 404 only",        NO_ROUTE_FOUND,                      None),
        ("DC client went away",           DOWNSTREAM_CONNECTION_TERMINATION,   Some("downstream_connection_termination")),
        ("UH no healthy upstream",        0x2,                                 Some("no_healthy_upstream")),
        ("unknown high bit",              1 << 40,                             None),
    ];

    #[test]
    fn error_type_table() {
        for (name, flags, want) in ERROR_TYPES {
            assert_eq!(error_type(*flags), *want, "{name}");
        }
    }

    #[test]
    fn codes_like_access_log() {
        assert_eq!(codes(0), "");
        assert_eq!(
            codes(UPSTREAM_CONNECTION_FAILURE | UPSTREAM_RETRY_LIMIT_EXCEEDED),
            "UF,URX"
        );
    }
}
