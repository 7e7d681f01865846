//! W3C Trace Context Level 2 `traceparent`: strict parsing of every header line, and formatting.
//!
//! `version "-" trace-id "-" parent-id "-" trace-flags`, all lower-case hex. Any broken rule, or more
//! than one header line, makes the context invalid; the caller then starts a new trace and drops
//! `tracestate` (W3C Trace Context Level 2).

use super::error::ParseError;
use super::headers::trim_ows;
use crate::ids::{lower_hex_value, write_lower_hex, SpanId, TraceFlags, TraceId};

/// Length of a version `00` header, and of the part of a higher version that we parse.
const V00_LEN: usize = 55;

/// A valid `traceparent`: the caller's trace, the caller's span (our parent) and its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id (never all zero).
    pub trace_id: TraceId,
    /// The caller's span id, the parent of ours (never all zero).
    pub parent_id: SpanId,
    /// The flags as received, unknown bits included (see [`TraceParent::to_header`]).
    pub flags: TraceFlags,
}

impl TraceParent {
    /// The header value to send: always version `00`, exactly 55 characters.
    ///
    /// Only the flags this version defines (sampled, random) are written; the others are reserved
    /// and must be sent as zero, which matters when the input came with a future version.
    pub fn to_header(&self) -> String {
        self.to_header_value().as_str().to_owned()
    }

    /// [`TraceParent::to_header`] without allocating: what every request sends upstream.
    pub fn to_header_value(&self) -> TraceparentValue {
        let mut out = [b'-'; V00_LEN];
        let (version, rest) = out.split_at_mut(2);
        version.copy_from_slice(b"00");
        let (trace_id, rest) = rest.split_at_mut(1).1.split_at_mut(32);
        let (parent_id, rest) = rest.split_at_mut(1).1.split_at_mut(16);
        let flags = rest.split_at_mut(1).1;
        write_lower_hex(trace_id, &self.trace_id.0);
        write_lower_hex(parent_id, &self.parent_id.0);
        let known = self.flags.0 & (TraceFlags::SAMPLED | TraceFlags::RANDOM);
        write_lower_hex(flags, &[known]);
        TraceparentValue(out)
    }
}

/// A formatted version-00 `traceparent`, 55 ASCII bytes kept inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceparentValue([u8; V00_LEN]);

impl TraceparentValue {
    /// The header value.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for TraceparentValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parse all `traceparent` header lines.
///
/// `Ok(None)` when there is no line; `Err` when there is more than one line or the value breaks a
/// rule; surrounding spaces and tabs are ignored. Rules (W3C Trace Context Level 2):
/// version is 2 lower-hex digits and not `ff`; version `00` is exactly 55 characters; a higher
/// version is parsed on its first 55 characters and a 56th character, if any, must be `-`;
/// trace-id is 32 lower-hex digits, not all zero; parent-id 16 lower-hex digits, not all zero;
/// flags 2 lower-hex digits; fields separated by `-`.
pub fn parse_traceparent(lines: &[&[u8]]) -> Result<Option<TraceParent>, ParseError> {
    match lines {
        [] => Ok(None),
        [line] => parse_value(trim_ows(line)).map(Some),
        _ => Err(ParseError::Traceparent("more than one traceparent line")),
    }
}

fn err(rule: &'static str) -> ParseError {
    ParseError::Traceparent(rule)
}

/// One trimmed header value.
fn parse_value(v: &[u8]) -> Result<TraceParent, ParseError> {
    let version = match (
        v.first().copied().and_then(lower_hex_value),
        v.get(1).copied().and_then(lower_hex_value),
    ) {
        (Some(h), Some(l)) => (h << 4) | l,
        _ => return Err(err("version is not 2 lower-hex digits")),
    };
    if version == 0xff {
        return Err(err("version ff is invalid"));
    }
    if version == 0 {
        if v.len() != V00_LEN {
            return Err(err("version 00 must be exactly 55 characters"));
        }
    } else {
        if v.len() < V00_LEN {
            return Err(err("shorter than 55 characters"));
        }
        // A future version may append fields, each introduced by a dash.
        if v.get(V00_LEN).is_some_and(|&c| c != b'-') {
            return Err(err(
                "future version: character after trace-flags is not '-'",
            ));
        }
    }
    let sep = |i: usize| v.get(i) == Some(&b'-');
    if !sep(2) {
        return Err(err("no '-' after version"));
    }
    let trace_id = v
        .get(3..35)
        .and_then(TraceId::from_hex)
        .ok_or(err("trace-id is not 32 lower-hex digits"))?;
    if !trace_id.is_valid() {
        return Err(err("trace-id is all zeros"));
    }
    if !sep(35) {
        return Err(err("no '-' after trace-id"));
    }
    let parent_id = v
        .get(36..52)
        .and_then(SpanId::from_hex)
        .ok_or(err("parent-id is not 16 lower-hex digits"))?;
    if !parent_id.is_valid() {
        return Err(err("parent-id is all zeros"));
    }
    if !sep(52) {
        return Err(err("no '-' after parent-id"));
    }
    let flags = v
        .get(53..55)
        .and_then(TraceFlags::from_hex)
        .ok_or(err("trace-flags is not 2 lower-hex digits"))?;
    Ok(TraceParent {
        trace_id,
        parent_id,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PID: &str = "00f067aa0ba902b7";

    fn one(v: &str) -> Result<Option<TraceParent>, ParseError> {
        parse_traceparent(&[v.as_bytes()])
    }

    #[rustfmt::skip]
    #[test]
    fn valid_headers() {
        let ok = |v: &str, flags: u8| {
            let tp = one(v).unwrap_or_else(|e| panic!("{v}: {e}")).unwrap();
            assert_eq!(tp.trace_id.to_hex(), TID, "{v}");
            assert_eq!(tp.parent_id.to_hex(), PID, "{v}");
            assert_eq!(tp.flags.0, flags, "{v}");
        };
        for (case, v, flags) in [
            ("version 00 sampled",                   format!("00-{TID}-{PID}-01"), 0x01),
            ("version 00 not sampled",               format!("00-{TID}-{PID}-00"), 0x00),
            ("random flag",                          format!("00-{TID}-{PID}-03"), 0x03),
            ("unknown flags kept on parse",          format!("00-{TID}-{PID}-ff"), 0xff),
            ("future version exactly 55",            format!("01-{TID}-{PID}-01"), 0x01),
            ("future version with extra field",      format!("cc-{TID}-{PID}-01-what-the-future-holds"), 0x01),
            ("future version with bare dash",        format!("fe-{TID}-{PID}-01-"), 0x01),
            ("surrounding spaces and tabs trimmed",  format!(" \t00-{TID}-{PID}-01\t "), 0x01),
        ] {
            println!("{case}");
            ok(&v, flags);
        }
    }

    #[rustfmt::skip]
    #[test]
    fn invalid_headers() {
        let upper_tid = TID.to_uppercase();
        let upper_pid = PID.to_uppercase();
        let zero_tid = "0".repeat(32);
        let zero_pid = "0".repeat(16);
        for (case, v, rule) in [
            ("empty value",                          String::new(),                          "version is not 2 lower-hex digits"),
            ("only spaces",                          "   ".to_string(),                      "version is not 2 lower-hex digits"),
            ("version ff is invalid",                format!("ff-{TID}-{PID}-01"),           "version ff is invalid"),
            ("upper-case version",                   format!("0A-{TID}-{PID}-01"),           "version is not 2 lower-hex digits"),
            ("version not hex",                      format!("0g-{TID}-{PID}-01"),           "version is not 2 lower-hex digits"),
            ("version 00 too long",                  format!("00-{TID}-{PID}-01-"),          "version 00 must be exactly 55 characters"),
            ("version 00 extra field",               format!("00-{TID}-{PID}-01-00"),        "version 00 must be exactly 55 characters"),
            ("version 00 too short",                 format!("00-{TID}-{PID}-1"),            "version 00 must be exactly 55 characters"),
            ("future version too short",             format!("01-{TID}-{PID}-1"),            "shorter than 55 characters"),
            ("future version 56th char not dash",    format!("01-{TID}-{PID}-01x"),          "future version: character after trace-flags is not '-'"),
            ("future version 56th char is hex",      format!("01-{TID}-{PID}-012"),          "future version: character after trace-flags is not '-'"),
            ("upper-case trace id",                  format!("00-{upper_tid}-{PID}-01"),     "trace-id is not 32 lower-hex digits"),
            ("upper-case parent id",                 format!("00-{TID}-{upper_pid}-01"),     "parent-id is not 16 lower-hex digits"),
            ("upper-case flags",                     format!("00-{TID}-{PID}-0A"),           "trace-flags is not 2 lower-hex digits"),
            ("all-zero trace id",                    format!("00-{zero_tid}-{PID}-01"),      "trace-id is all zeros"),
            ("all-zero parent id",                   format!("00-{TID}-{zero_pid}-01"),      "parent-id is all zeros"),
            ("future version all-zero trace id",     format!("02-{zero_tid}-{PID}-01-x"),    "trace-id is all zeros"),
            ("flags not hex",                        format!("00-{TID}-{PID}-0x"),           "trace-flags is not 2 lower-hex digits"),
            ("underscore separator after version",   format!("00_{TID}-{PID}-01"),           "no '-' after version"),
            ("underscore separator after trace id",  format!("00-{TID}_{PID}-01"),           "no '-' after trace-id"),
            ("underscore separator after parent id", format!("00-{TID}-{PID}_01"),           "no '-' after parent-id"),
            ("trace id one char short",              format!("00-{}-{PID}-01x", &TID[1..]),  "trace-id is not 32 lower-hex digits"),
            ("inner space",                          format!("00-{TID} -{PID}-0"),           "no '-' after trace-id"),
        ] {
            assert_eq!(one(&v), Err(ParseError::Traceparent(rule)), "{case}: {v:?}");
        }
    }

    #[test]
    fn no_line_is_none() {
        assert_eq!(parse_traceparent(&[]), Ok(None));
    }

    #[test]
    fn two_traceparent_lines() {
        let v = format!("00-{TID}-{PID}-01");
        assert_eq!(
            parse_traceparent(&[v.as_bytes(), v.as_bytes()]),
            Err(ParseError::Traceparent("more than one traceparent line"))
        );
    }

    #[test]
    fn non_utf8_is_invalid() {
        let mut v = format!("00-{TID}-{PID}-01").into_bytes();
        v[10] = 0xff;
        assert!(parse_traceparent(&[&v]).is_err());
    }

    #[test]
    fn to_header_is_version_00_and_masks_unknown_flags() {
        let tp = one(&format!("cc-{TID}-{PID}-ff-extra")).unwrap().unwrap();
        assert_eq!(tp.to_header(), format!("00-{TID}-{PID}-03"));
        assert_eq!(tp.to_header().len(), 55);
    }

    proptest! {
        #[test]
        fn format_then_parse(tid in any::<[u8; 16]>(), pid in any::<[u8; 8]>(), flags in 0u8..4) {
            prop_assume!(tid != [0; 16] && pid != [0; 8]);
            let tp = TraceParent { trace_id: TraceId(tid), parent_id: SpanId(pid), flags: TraceFlags(flags) };
            let h = tp.to_header();
            prop_assert_eq!(parse_traceparent(&[h.as_bytes()]), Ok(Some(tp)));
        }

        #[test]
        fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..80),
                                    b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_traceparent(&[&a]);
            let _ = parse_traceparent(&[&a, &b]);
        }

        #[test]
        fn mutated_valid_header_never_panics(i in 0usize..60, c in any::<u8>()) {
            let mut v = format!("01-{TID}-{PID}-01-x").into_bytes();
            if let Some(slot) = v.get_mut(i) { *slot = c; }
            let _ = parse_traceparent(&[&v]);
        }
    }
}
