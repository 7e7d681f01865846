//! Jaeger `uber-trace-id` propagation: `{trace-id}:{span-id}:{parent-span-id}:{flags}`.
//!
//! Trace id 1–32 hex digits and span id 1–16 (Jaeger clients drop leading zeros; we left-pad),
//! parent span id 1–16 (deprecated, `0` when none; checked but not used), flags 1–2 hex digits:
//! bit 0x01 sampled, 0x02 debug (which implies sampled). Clients that URL-encode the header write
//! `%3A` for `:`; both forms are read. Upper-case hex digits are accepted.

use super::context::ExtractedContext;
use super::error::ParseError;
use super::headers::{trim_ows, HeaderLines};
use super::lenient_hex::{hex_u128, hex_u64};
use crate::ids::{SpanId, TraceId};

/// The Jaeger header.
pub const UBER_TRACE_ID: &str = "uber-trace-id";
/// The prefix of Jaeger's baggage headers (`uberctx-{key}: {value}`).
pub const UBERCTX_PREFIX: &str = "uberctx-";

/// Flag bit: sampled.
const SAMPLED: u8 = 0x01;
/// Flag bit: debug (forces sampling).
const DEBUG: u8 = 0x02;

/// Extract a context from `uber-trace-id`. `Ok(None)` when absent; `Err` when repeated or invalid.
pub fn extract_jaeger<K: AsRef<str>, V: AsRef<[u8]>>(
    headers: &HeaderLines<'_, K, V>,
) -> Result<Option<ExtractedContext>, ParseError> {
    let mut it = headers.iter(UBER_TRACE_ID);
    let Some(value) = it.next() else {
        return Ok(None);
    };
    if it.next().is_some() {
        return Err(ParseError::Jaeger("more than one uber-trace-id line"));
    }
    parse_uber_trace_id(value).map(Some)
}

/// Parse one `uber-trace-id` value.
pub fn parse_uber_trace_id(value: &[u8]) -> Result<ExtractedContext, ParseError> {
    let err = ParseError::Jaeger;
    let v = trim_ows(value);
    let decoded;
    let v = if v.contains(&b'%') {
        decoded = decode_colons(v).ok_or(err("'%' other than %3A"))?;
        decoded.as_slice()
    } else {
        v
    };
    let mut parts = v.split(|&c| c == b':');
    let (Some(t), Some(s), Some(p), Some(f), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(err("not 4 fields separated by ':'"));
    };
    let trace_id = hex_u128(t, 32)
        .map(|v| TraceId(v.to_be_bytes()))
        .ok_or(err("trace id is not 1-32 hex digits"))?;
    if !trace_id.is_valid() {
        return Err(err("trace id is zero"));
    }
    let span_id = hex_u64(s, 16)
        .map(SpanId::from_u64)
        .ok_or(err("span id is not 1-16 hex digits"))?;
    if !span_id.is_valid() {
        return Err(err("span id is zero"));
    }
    hex_u64(p, 16).ok_or(err("parent span id is not 1-16 hex digits"))?;
    // Jaeger clients write the flags in hex; up to 2 digits (one byte).
    let flags = hex_u64(f, 2)
        .and_then(|v| u8::try_from(v).ok())
        .ok_or(err("flags is not 1-2 hex digits"))?;
    let sampled = flags & (SAMPLED | DEBUG) != 0;
    Ok(ExtractedContext::new(trace_id, span_id, Some(sampled)))
}

/// Replace every `%3A` / `%3a` with `:`; `None` if any other `%` is present.
fn decode_colons(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        if c == b'%' {
            match (v.get(i + 1), v.get(i + 2)) {
                (Some(b'3'), Some(b'A' | b'a')) => {
                    out.push(b':');
                    i += 3;
                    continue;
                }
                _ => return None,
            }
        }
        out.push(c);
        i += 1;
    }
    Some(out)
}

/// The `uber-trace-id` value to send: `{trace-id}:{span-id}:0:{1|0}` (128-bit trace id, no parent:
/// the field is deprecated).
pub fn uber_trace_id_header(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
    format!(
        "{}:{}:0:{}",
        trace_id.to_hex(),
        span_id.to_hex(),
        if sampled { '1' } else { '0' }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ext(v: &str) -> Result<Option<ExtractedContext>, ParseError> {
        let pairs = [("uber-trace-id", v.as_bytes())];
        extract_jaeger(&HeaderLines::new(&pairs))
    }

    fn ctx(tid: u128, sid: u64, sampled: bool) -> Result<Option<ExtractedContext>, ParseError> {
        Ok(Some(ExtractedContext::new(
            TraceId(tid.to_be_bytes()),
            SpanId::from_u64(sid),
            Some(sampled),
        )))
    }

    #[rustfmt::skip]
    #[test]
    fn valid_headers() {
        for (case, v, want) in [
            ("full width ids",              "463ac35c9f6413ad48485a3953bb6124:a2fb4a1d1a96d312:0:1", ctx(0x463ac35c9f6413ad48485a3953bb6124, 0xa2fb4a1d1a96d312, true)),
            ("64-bit trace id",             "48485a3953bb6124:a2fb4a1d1a96d312:0:1",                 ctx(0x48485a3953bb6124, 0xa2fb4a1d1a96d312, true)),
            ("short ids left-padded",       "abc:de:0:1",                                            ctx(0xabc, 0xde, true)),
            ("not sampled",                 "abc:de:0:0",                                            ctx(0xabc, 0xde, false)),
            ("debug is sampled",            "abc:de:0:2",                                            ctx(0xabc, 0xde, true)),
            ("sampled and debug",           "abc:de:0:3",                                            ctx(0xabc, 0xde, true)),
            ("firehose only not sampled",   "abc:de:0:8",                                            ctx(0xabc, 0xde, false)),
            ("two-digit flags",             "abc:de:0:0b",                                           ctx(0xabc, 0xde, true)),
            ("with parent span id",         "abc:de:f00:1",                                          ctx(0xabc, 0xde, true)),
            ("URL-encoded %3A separators",  "abc%3Ade%3A0%3A1",                                      ctx(0xabc, 0xde, true)),
            ("lower-case %3a",              "abc%3ade%3a0%3a0",                                      ctx(0xabc, 0xde, false)),
            ("upper-case hex",              "ABC:DE:0:1",                                            ctx(0xabc, 0xde, true)),
            ("surrounding OWS",             " abc:de:0:1\t",                                         ctx(0xabc, 0xde, true)),
        ] {
            assert_eq!(ext(v), want, "{case}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn invalid_headers() {
        let long_tid = "1".repeat(33);
        for (case, v, rule) in [
            ("three fields",               "abc:de:1".to_string(),          "not 4 fields separated by ':'"),
            ("five fields",                "abc:de:0:1:x".to_string(),      "not 4 fields separated by ':'"),
            ("empty",                      String::new(),                   "not 4 fields separated by ':'"),
            ("33-digit trace id",          format!("{long_tid}:de:0:1"),    "trace id is not 1-32 hex digits"),
            ("empty trace id",             ":de:0:1".to_string(),           "trace id is not 1-32 hex digits"),
            ("zero trace id",              "0:de:0:1".to_string(),          "trace id is zero"),
            ("17-digit span id",           "abc:11111111111111111:0:1".to_string(), "span id is not 1-16 hex digits"),
            ("zero span id",               "abc:0000:0:1".to_string(),      "span id is zero"),
            ("bad parent",                 "abc:de:x:1".to_string(),        "parent span id is not 1-16 hex digits"),
            ("three-digit flags",          "abc:de:0:100".to_string(),      "flags is not 1-2 hex digits"),
            ("non-hex flags",              "abc:de:0:z".to_string(),        "flags is not 1-2 hex digits"),
            ("other percent escape",       "abc%2Fde:0:1".to_string(),      "'%' other than %3A"),
            ("truncated percent escape",   "abc:de:0:1%3".to_string(),      "'%' other than %3A"),
        ] {
            assert_eq!(ext(&v), Err(ParseError::Jaeger(rule)), "{case}");
        }
        let pairs = [("uber-trace-id", b"abc:de:0:1".as_slice()), ("uber-trace-id", b"abc:de:0:1".as_slice())];
        assert_eq!(
            extract_jaeger(&HeaderLines::new(&pairs)),
            Err(ParseError::Jaeger("more than one uber-trace-id line"))
        );
        assert_eq!(extract_jaeger(&HeaderLines::<&str, &[u8]>::new(&[])), Ok(None));
    }

    proptest! {
        #[test]
        fn inject_then_extract(tid in any::<[u8; 16]>(), sid in any::<[u8; 8]>(), sampled: bool) {
            prop_assume!(tid != [0; 16] && sid != [0; 8]);
            let (t, s) = (TraceId(tid), SpanId(sid));
            let h = uber_trace_id_header(t, s, sampled);
            prop_assert_eq!(ext(&h), Ok(Some(ExtractedContext::new(t, s, Some(sampled)))));
            let encoded = h.replace(':', "%3A");
            prop_assert_eq!(ext(&encoded), Ok(Some(ExtractedContext::new(t, s, Some(sampled)))));
        }

        #[test]
        fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse_uber_trace_id(&a);
        }

        #[test]
        fn random_text_never_panics(s in "[0-9a-fA-F:%3]{0,60}") {
            let _ = parse_uber_trace_id(s.as_bytes());
        }
    }
}
