//! Zipkin B3 propagation: the single `b3` header and the multi `x-b3-*` headers, read and written.
//!
//! Single: `{trace-id}-{span-id}[-{sampling}[-{parent-span-id}]]`, or a sampling state alone (`0`,
//! `1`, `d`). Multi: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled` (`1`/`0`/`true`/`false`),
//! `x-b3-flags` (`1` = debug, which implies sampled), `x-b3-parentspanid`. Trace ids are 16 or 32
//! hex digits (a 64-bit id is left-padded with zeros to 128 bits), span ids 16. B3 says lower-case,
//! but senders vary, so upper-case digits are accepted too. As the OpenTelemetry B3 propagator does,
//! a valid single header wins, and the multi headers are tried when it is absent or invalid.

use super::context::ExtractedContext;
use super::error::ParseError;
use super::headers::{trim_ows, HeaderLines};
use super::lenient_hex::{hex_u128, hex_u64};
use crate::ids::{SpanId, TraceId};

/// The single header.
pub const B3: &str = "b3";
/// Multi header: trace id.
pub const X_B3_TRACEID: &str = "x-b3-traceid";
/// Multi header: span id.
pub const X_B3_SPANID: &str = "x-b3-spanid";
/// Multi header: parent span id.
pub const X_B3_PARENTSPANID: &str = "x-b3-parentspanid";
/// Multi header: sampling decision.
pub const X_B3_SAMPLED: &str = "x-b3-sampled";
/// Multi header: `1` means debug.
pub const X_B3_FLAGS: &str = "x-b3-flags";

/// What one `b3` single header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B3Single {
    /// Ids, with or without a sampling state.
    Context(ExtractedContext),
    /// Only a sampling state (`0` → false, `1` or `d` → true): no context to continue.
    SamplingOnly(bool),
}

/// Extract a context from B3 headers: the single `b3` header if it holds a valid context, else the
/// multi `x-b3-*` headers.
///
/// `Ok(None)` when neither carries ids (a sampling-only header included: see [`b3_sampling`] for
/// its decision). `Err` when the headers present are invalid (for the single header, only when the
/// multi headers are absent too).
pub fn extract_b3<K: AsRef<str>, V: AsRef<[u8]>>(
    headers: &HeaderLines<'_, K, V>,
) -> Result<Option<ExtractedContext>, ParseError> {
    let single = single_line(headers).map(|v| v.and_then(parse_b3_single));
    match single {
        Some(Ok(B3Single::Context(ctx))) => Ok(Some(ctx)),
        Some(Ok(B3Single::SamplingOnly(_))) => extract_b3_multi(headers),
        Some(Err(e)) => match extract_b3_multi(headers) {
            Ok(None) => Err(e),
            other => other,
        },
        None => extract_b3_multi(headers),
    }
}

/// The sampling decision B3 headers carry, with or without ids: from a valid single header, else
/// from `x-b3-flags: 1` (debug → true) or `x-b3-sampled`. `None` when there is none, or it is invalid.
///
/// Lets the caller honour `b3: 0` (a sender that asks for no tracing) when there is no context.
pub fn b3_sampling<K: AsRef<str>, V: AsRef<[u8]>>(headers: &HeaderLines<'_, K, V>) -> Option<bool> {
    if let Some(Ok(v)) = single_line(headers) {
        match parse_b3_single(v) {
            Ok(B3Single::Context(c)) => return c.sampled,
            Ok(B3Single::SamplingOnly(s)) => return Some(s),
            Err(_) => {}
        }
    }
    multi_sampling(headers).ok().flatten()
}

/// The one `b3` line: `None` when absent, `Err` when repeated.
fn single_line<'a, K: AsRef<str>, V: AsRef<[u8]>>(
    headers: &HeaderLines<'a, K, V>,
) -> Option<Result<&'a [u8], ParseError>> {
    let mut it = headers.iter(B3);
    let first = it.next()?;
    if it.next().is_some() {
        return Some(Err(ParseError::B3("more than one b3 line")));
    }
    Some(Ok(first))
}

/// Parse one `b3` single-header value.
pub fn parse_b3_single(value: &[u8]) -> Result<B3Single, ParseError> {
    let err = ParseError::B3;
    let v = trim_ows(value);
    match v {
        b"0" => return Ok(B3Single::SamplingOnly(false)),
        b"1" | b"d" => return Ok(B3Single::SamplingOnly(true)),
        _ => {}
    }
    let mut parts = v.split(|&c| c == b'-');
    let trace_id = parts
        .next()
        .and_then(b3_trace_id)
        .ok_or(err("trace id is not 16 or 32 hex digits"))?;
    if !trace_id.is_valid() {
        return Err(err("trace id is all zeros"));
    }
    let span_id = parts
        .next()
        .ok_or(err("no span id"))
        .and_then(|s| b3_span_id(s).ok_or(err("span id is not 16 hex digits")))?;
    if !span_id.is_valid() {
        return Err(err("span id is all zeros"));
    }
    let sampled = match parts.next() {
        None => None,
        Some(b"0") => Some(false),
        Some(b"1" | b"d") => Some(true),
        Some(_) => return Err(err("sampling state is not 0, 1 or d")),
    };
    if let Some(p) = parts.next() {
        b3_span_id(p).ok_or(err("parent span id is not 16 hex digits"))?;
    }
    if parts.next().is_some() {
        return Err(err("more than 4 fields"));
    }
    Ok(B3Single::Context(ExtractedContext::new(
        trace_id, span_id, sampled,
    )))
}

/// Extract a context from the multi `x-b3-*` headers only. `Ok(None)` when neither id header is there.
pub fn extract_b3_multi<K: AsRef<str>, V: AsRef<[u8]>>(
    headers: &HeaderLines<'_, K, V>,
) -> Result<Option<ExtractedContext>, ParseError> {
    let err = ParseError::B3Multi;
    let tid = one_line(headers, X_B3_TRACEID, "more than one x-b3-traceid line")?;
    let sid = one_line(headers, X_B3_SPANID, "more than one x-b3-spanid line")?;
    let (tid, sid) = match (tid, sid) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(err("x-b3-traceid without x-b3-spanid")),
        (None, Some(_)) => return Err(err("x-b3-spanid without x-b3-traceid")),
        (Some(t), Some(s)) => (t, s),
    };
    let trace_id = b3_trace_id(tid).ok_or(err("x-b3-traceid is not 16 or 32 hex digits"))?;
    if !trace_id.is_valid() {
        return Err(err("x-b3-traceid is all zeros"));
    }
    let span_id = b3_span_id(sid).ok_or(err("x-b3-spanid is not 16 hex digits"))?;
    if !span_id.is_valid() {
        return Err(err("x-b3-spanid is all zeros"));
    }
    if let Some(p) = one_line(
        headers,
        X_B3_PARENTSPANID,
        "more than one x-b3-parentspanid line",
    )? {
        b3_span_id(p).ok_or(err("x-b3-parentspanid is not 16 hex digits"))?;
    }
    let sampled = multi_sampling(headers)?;
    Ok(Some(ExtractedContext::new(trace_id, span_id, sampled)))
}

/// The decision of the multi headers: debug wins, then `x-b3-sampled`.
fn multi_sampling<K: AsRef<str>, V: AsRef<[u8]>>(
    headers: &HeaderLines<'_, K, V>,
) -> Result<Option<bool>, ParseError> {
    let err = ParseError::B3Multi;
    if one_line(headers, X_B3_FLAGS, "more than one x-b3-flags line")? == Some(b"1") {
        return Ok(Some(true));
    }
    match one_line(headers, X_B3_SAMPLED, "more than one x-b3-sampled line")? {
        None => Ok(None),
        Some(b"1") => Ok(Some(true)),
        Some(b"0") => Ok(Some(false)),
        Some(v) if v.eq_ignore_ascii_case(b"true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case(b"false") => Ok(Some(false)),
        Some(_) => Err(err("x-b3-sampled is not 1, 0, true or false")),
    }
}

/// The trimmed value of a header that may appear at most once.
fn one_line<'a, K: AsRef<str>, V: AsRef<[u8]>>(
    headers: &HeaderLines<'a, K, V>,
    name: &str,
    repeated: &'static str,
) -> Result<Option<&'a [u8]>, ParseError> {
    let mut it = headers.iter(name);
    let first = it.next().map(trim_ows);
    if it.next().is_some() {
        return Err(ParseError::B3Multi(repeated));
    }
    Ok(first)
}

/// 16 or 32 hex digits, either case; 16 are left-padded to 128 bits.
fn b3_trace_id(s: &[u8]) -> Option<TraceId> {
    match s.len() {
        16 | 32 => hex_u128(s, 32).map(|v| TraceId(v.to_be_bytes())),
        _ => None,
    }
}

/// Exactly 16 hex digits, either case.
fn b3_span_id(s: &[u8]) -> Option<SpanId> {
    (s.len() == 16)
        .then(|| hex_u64(s, 16))
        .flatten()
        .map(SpanId::from_u64)
}

/// The `b3` single header value to send: `{trace-id}-{span-id}-{1|0}` (128-bit trace id).
pub fn b3_single_header(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
    format!(
        "{}-{}-{}",
        trace_id.to_hex(),
        span_id.to_hex(),
        if sampled { '1' } else { '0' }
    )
}

/// The multi headers to send: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`. A parent span id is not
/// sent: it is optional in B3 and nothing downstream needs it.
pub fn b3_multi_headers(
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
) -> [(&'static str, String); 3] {
    [
        (X_B3_TRACEID, trace_id.to_hex()),
        (X_B3_SPANID, span_id.to_hex()),
        (X_B3_SAMPLED, if sampled { "1" } else { "0" }.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TID: &str = "463ac35c9f6413ad48485a3953bb6124";
    const TID64: &str = "48485a3953bb6124";
    const SID: &str = "a2fb4a1d1a96d312";
    const PSID: &str = "0020000000000001";

    fn ext(pairs: &[(&str, &str)]) -> Result<Option<ExtractedContext>, ParseError> {
        let pairs: Vec<(&str, &[u8])> = pairs.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        extract_b3(&HeaderLines::new(&pairs))
    }

    fn ctx(tid: &str, sampled: Option<bool>) -> Option<ExtractedContext> {
        let tid = if tid.len() == 16 {
            format!("{:0>32}", tid)
        } else {
            tid.to_string()
        };
        Some(ExtractedContext::new(
            TraceId::from_hex(tid.as_bytes()).unwrap(),
            SpanId::from_hex(SID.as_bytes()).unwrap(),
            sampled,
        ))
    }

    #[rustfmt::skip]
    #[test]
    fn single_header_valid() {
        let upper = format!("{}-{}-1", TID.to_uppercase(), SID.to_uppercase());
        for (case, v, want) in [
            ("ids only, decision deferred",   format!("{TID}-{SID}"),              ctx(TID, None)),
            ("sampled",                       format!("{TID}-{SID}-1"),            ctx(TID, Some(true))),
            ("not sampled",                   format!("{TID}-{SID}-0"),            ctx(TID, Some(false))),
            ("debug is sampled",              format!("{TID}-{SID}-d"),            ctx(TID, Some(true))),
            ("with parent span id",           format!("{TID}-{SID}-1-{PSID}"),     ctx(TID, Some(true))),
            ("64-bit trace id left-padded",   format!("{TID64}-{SID}-1"),          ctx(TID64, Some(true))),
            ("upper-case hex accepted",       upper,                               ctx(TID, Some(true))),
            ("surrounding OWS",               format!(" {TID}-{SID}-1\t"),         ctx(TID, Some(true))),
        ] {
            assert_eq!(ext(&[("b3", &v)]), Ok(want), "{case}");
        }
        let c = ext(&[("b3", &format!("{TID64}-{SID}"))]).unwrap().unwrap();
        assert_eq!(c.trace_id.to_hex(), format!("0000000000000000{TID64}"));
    }

    #[rustfmt::skip]
    #[test]
    fn single_header_invalid() {
        let zero_tid = "0".repeat(32);
        for (case, v, rule) in [
            ("trace id 20 digits",            format!("{}-{SID}", &TID[..20]),     "trace id is not 16 or 32 hex digits"),
            ("trace id not hex",              format!("{}x-{SID}", &TID[..31]),    "trace id is not 16 or 32 hex digits"),
            ("all-zero trace id",             format!("{zero_tid}-{SID}"),         "trace id is all zeros"),
            ("no span id",                    TID.to_string(),                     "no span id"),
            ("span id short",                 format!("{TID}-{}", &SID[1..]),      "span id is not 16 hex digits"),
            ("all-zero span id",              format!("{TID}-0000000000000000"),   "span id is all zeros"),
            ("bad sampling state",            format!("{TID}-{SID}-2"),            "sampling state is not 0, 1 or d"),
            ("empty sampling state",          format!("{TID}-{SID}-"),             "sampling state is not 0, 1 or d"),
            ("bad parent span id",            format!("{TID}-{SID}-1-xyz"),        "parent span id is not 16 hex digits"),
            ("five fields",                   format!("{TID}-{SID}-1-{PSID}-x"),   "more than 4 fields"),
            ("empty",                         String::new(),                       "trace id is not 16 or 32 hex digits"),
        ] {
            assert_eq!(ext(&[("b3", &v)]), Err(ParseError::B3(rule)), "{case}");
        }
        let v = format!("{TID}-{SID}");
        assert_eq!(ext(&[("b3", &v), ("b3", &v)]), Err(ParseError::B3("more than one b3 line")));
    }

    #[rustfmt::skip]
    #[test]
    fn sampling_only_single_header() {
        for (case, v, want) in [
            ("deny",   "0", Some(false)),
            ("accept", "1", Some(true)),
            ("debug",  "d", Some(true)),
        ] {
            assert_eq!(ext(&[("b3", v)]), Ok(None), "{case}: no context");
            let pairs = [("b3", v.as_bytes())];
            assert_eq!(b3_sampling(&HeaderLines::new(&pairs)), want, "{case}");
        }
        assert_eq!(parse_b3_single(b"0"), Ok(B3Single::SamplingOnly(false)));
    }

    #[rustfmt::skip]
    #[test]
    fn multi_headers() {
        for (case, pairs, want) in [
            ("ids only",                 vec![("x-b3-traceid", TID), ("x-b3-spanid", SID)],                                     Ok(ctx(TID, None))),
            ("sampled 1",                vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-sampled", "1")],              Ok(ctx(TID, Some(true)))),
            ("sampled 0",                vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-sampled", "0")],              Ok(ctx(TID, Some(false)))),
            ("sampled true",             vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-sampled", "true")],           Ok(ctx(TID, Some(true)))),
            ("sampled false",            vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-sampled", "false")],          Ok(ctx(TID, Some(false)))),
            ("debug flag is sampled",    vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-flags", "1"), ("x-b3-sampled", "0")], Ok(ctx(TID, Some(true)))),
            ("flags 0 ignored",          vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-flags", "0")],                Ok(ctx(TID, None))),
            ("64-bit trace id",          vec![("x-b3-traceid", TID64), ("x-b3-spanid", SID), ("x-b3-sampled", "1")],            Ok(ctx(TID64, Some(true)))),
            ("with parent span id",      vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-parentspanid", PSID)],        Ok(ctx(TID, None))),
            ("none",                     vec![("x-b3-sampled", "1")],                                                           Ok(None)),
            ("trace id alone",           vec![("x-b3-traceid", TID)],                                                           Err(ParseError::B3Multi("x-b3-traceid without x-b3-spanid"))),
            ("span id alone",            vec![("x-b3-spanid", SID)],                                                            Err(ParseError::B3Multi("x-b3-spanid without x-b3-traceid"))),
            ("bad sampled",              vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-sampled", "yes")],            Err(ParseError::B3Multi("x-b3-sampled is not 1, 0, true or false"))),
            ("bad trace id",             vec![("x-b3-traceid", "abc"), ("x-b3-spanid", SID)],                                   Err(ParseError::B3Multi("x-b3-traceid is not 16 or 32 hex digits"))),
            ("all-zero trace id",        vec![("x-b3-traceid", "0000000000000000"), ("x-b3-spanid", SID)],                      Err(ParseError::B3Multi("x-b3-traceid is all zeros"))),
            ("bad span id",              vec![("x-b3-traceid", TID), ("x-b3-spanid", "12")],                                    Err(ParseError::B3Multi("x-b3-spanid is not 16 hex digits"))),
            ("bad parent span id",       vec![("x-b3-traceid", TID), ("x-b3-spanid", SID), ("x-b3-parentspanid", "x")],         Err(ParseError::B3Multi("x-b3-parentspanid is not 16 hex digits"))),
            ("two trace id lines",       vec![("x-b3-traceid", TID), ("x-b3-traceid", TID), ("x-b3-spanid", SID)],              Err(ParseError::B3Multi("more than one x-b3-traceid line"))),
        ] {
            assert_eq!(ext(&pairs), want, "{case}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn single_wins_then_multi_fallback() {
        let single = format!("{TID}-{SID}-0");
        let other_tid = "11111111111111111111111111111111";
        let multi = [("x-b3-traceid", other_tid), ("x-b3-spanid", SID), ("x-b3-sampled", "1")];
        let mut with_single = vec![("b3", single.as_str())];
        with_single.extend(multi);
        assert_eq!(ext(&with_single), Ok(ctx(TID, Some(false))), "valid single header wins");
        let mut bad_single = vec![("b3", "garbage")];
        bad_single.extend(multi);
        assert_eq!(ext(&bad_single), Ok(ctx(other_tid, Some(true))), "invalid single falls back to multi");
        let mut deny = vec![("b3", "0")];
        deny.extend(multi);
        assert_eq!(ext(&deny), Ok(ctx(other_tid, Some(true))), "sampling-only single falls back to multi");
        assert_eq!(ext(&[]), Ok(None));
    }

    #[test]
    fn injection() {
        let t = TraceId::from_hex(TID.as_bytes()).unwrap();
        let s = SpanId::from_hex(SID.as_bytes()).unwrap();
        assert_eq!(b3_single_header(t, s, true), format!("{TID}-{SID}-1"));
        assert_eq!(b3_single_header(t, s, false), format!("{TID}-{SID}-0"));
        assert_eq!(
            b3_multi_headers(t, s, true),
            [
                ("x-b3-traceid", TID.to_string()),
                ("x-b3-spanid", SID.to_string()),
                ("x-b3-sampled", "1".to_string())
            ]
        );
    }

    proptest! {
        #[test]
        fn inject_then_extract(tid in any::<[u8; 16]>(), sid in any::<[u8; 8]>(), sampled: bool) {
            prop_assume!(tid != [0; 16] && sid != [0; 8]);
            let (t, s) = (TraceId(tid), SpanId(sid));
            let want = Some(ExtractedContext::new(t, s, Some(sampled)));
            let single = b3_single_header(t, s, sampled);
            prop_assert_eq!(ext(&[("b3", &single)]), Ok(want));
            let multi = b3_multi_headers(t, s, sampled);
            let pairs: Vec<(&str, &str)> = multi.iter().map(|(k, v)| (*k, v.as_str())).collect();
            prop_assert_eq!(ext(&pairs), Ok(want));
        }

        #[test]
        fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..80),
                                    b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let pairs: Vec<(&str, &[u8])> = vec![("b3", &a), ("x-b3-traceid", &a), ("x-b3-spanid", &b), ("x-b3-sampled", &b)];
            let h = HeaderLines::new(&pairs);
            let _ = extract_b3(&h);
            let _ = b3_sampling(&h);
        }
    }
}
