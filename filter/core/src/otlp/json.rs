//! OTLP/JSON (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>), written by hand.
//!
//! The spec's deviations from plain proto3 JSON are the point of this file: trace and span ids are
//! lower-case hex (not base64), field names are lowerCamelCase, enums are integers, and 64-bit
//! integers (`timeUnixNano`, `intValue`) are decimal strings. Fields with default values are left out,
//! which receivers must accept. Written by hand to keep serde derive code out of the wasm.

use super::{SCOPE_NAME, SCOPE_VERSION};
use crate::ids::encode_lower_hex;
use crate::span::{AttrValue, Attribute, ResourceInfo, SpanRecord};
use std::fmt::Write as _;

/// One span as a JSON object (a fragment the batch framing places in `spans`).
// Out of line: the protobuf path is the common one, and inlined this would share its code lines.
#[inline(never)]
pub fn encode_span_json(s: &SpanRecord) -> String {
    let mut o = String::with_capacity(256 + 48 * s.attributes.len());
    o.push_str("{\"traceId\":\"");
    o.push_str(&encode_lower_hex(&s.trace_id.0));
    o.push_str("\",\"spanId\":\"");
    o.push_str(&encode_lower_hex(&s.span_id.0));
    o.push('"');
    if !s.trace_state.is_empty() {
        o.push_str(",\"traceState\":");
        push_str_value(&mut o, &s.trace_state);
    }
    if let Some(p) = s.parent_span_id {
        o.push_str(",\"parentSpanId\":\"");
        o.push_str(&encode_lower_hex(&p.0));
        o.push('"');
    }
    // fixed32 and enums are JSON numbers; fixed64 are strings.
    let _ = write!(o, ",\"flags\":{},\"name\":", s.flags);
    push_str_value(&mut o, &s.name);
    let _ = write!(
        o,
        ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\"",
        s.kind as i32, s.start_time_unix_nano, s.end_time_unix_nano
    );
    if !s.attributes.is_empty() {
        o.push_str(",\"attributes\":");
        push_attributes(&mut o, &s.attributes);
    }
    if !s.events.is_empty() {
        o.push_str(",\"events\":[");
        for (i, e) in s.events.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{{\"timeUnixNano\":\"{}\",\"name\":", e.time_unix_nano);
            push_str_value(&mut o, e.name);
            o.push('}');
        }
        o.push(']');
    }
    if !s.links.is_empty() {
        o.push_str(",\"links\":[");
        for (i, l) in s.links.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"traceId\":\"{}\",\"spanId\":\"{}\",\"flags\":{}}}",
                encode_lower_hex(&l.trace_id.0),
                encode_lower_hex(&l.span_id.0),
                l.flags
            );
        }
        o.push(']');
    }
    if s.status.code() != 0 {
        let _ = write!(o, ",\"status\":{{\"code\":{}", s.status.code());
        if !s.status.message().is_empty() {
            o.push_str(",\"message\":");
            push_str_value(&mut o, s.status.message());
        }
        o.push('}');
    }
    o.push('}');
    o
}

/// The resource as a JSON object: `{"attributes":[…]}`.
pub fn encode_resource_json(r: &ResourceInfo) -> String {
    let mut o = String::from("{\"attributes\":");
    push_attributes(&mut o, &r.attributes);
    o.push('}');
    o
}

/// The instrumentation scope as a JSON object.
pub fn encode_scope_json() -> String {
    let mut o = String::from("{\"name\":");
    push_str_value(&mut o, SCOPE_NAME);
    o.push_str(",\"version\":");
    push_str_value(&mut o, SCOPE_VERSION);
    o.push('}');
    o
}

/// `{"resourceSpans":[{"resource":R,"scopeSpans":[{"scope":S,"spans":[…]}]}]}` around stored span
/// fragments.
pub fn frame_request_json(resource: &[u8], scope: &[u8], spans: &[&[u8]]) -> Vec<u8> {
    frame_spans_json(resource, scope, spans.iter().copied())
}

/// [`frame_request_json`] over any re-iterable sequence of span fragments.
pub fn frame_spans_json<'a, I>(resource: &[u8], scope: &[u8], spans: I) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    const HEAD: &[u8] = b"{\"resourceSpans\":[{\"resource\":";
    const MID: &[u8] = b",\"scopeSpans\":[{\"scope\":";
    const SPANS: &[u8] = b",\"spans\":[";
    const TAIL: &[u8] = b"]}]}]}";
    let spans = spans.into_iter();
    let body: usize = spans.clone().map(|s| s.len() + 1).sum();
    let mut out = Vec::with_capacity(
        HEAD.len() + resource.len() + MID.len() + scope.len() + SPANS.len() + body + TAIL.len(),
    );
    out.extend_from_slice(HEAD);
    out.extend_from_slice(resource);
    out.extend_from_slice(MID);
    out.extend_from_slice(scope);
    out.extend_from_slice(SPANS);
    for (i, s) in spans.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(s);
    }
    out.extend_from_slice(TAIL);
    out
}

fn push_attributes(o: &mut String, attrs: &[Attribute]) {
    o.push('[');
    for (i, a) in attrs.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"key\":");
        push_str_value(o, &a.key);
        o.push_str(",\"value\":");
        match &a.value {
            AttrValue::Str(s) => {
                o.push_str("{\"stringValue\":");
                push_str_value(o, s);
                o.push('}');
            }
            AttrValue::Int(v) => {
                let _ = write!(o, "{{\"intValue\":\"{v}\"}}");
            }
        }
        o.push('}');
    }
    o.push(']');
}

/// Append `s` as a JSON string literal (RFC 8259 escaping; non-ASCII passes through as UTF-8).
pub fn push_str_value(o: &mut String, s: &str) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

#[cfg(test)]
mod tests;
