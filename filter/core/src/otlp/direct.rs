//! The per-request `Span` encoder: protobuf bytes written straight from a [`SpanRecord`].
//!
//! Building the prost `Span` message first copies every id into a `Vec`, every attribute key into a
//! `String` and wraps each value in two more structs, then walks the tree twice (length, bytes);
//! those allocations were a quarter of a sampled request's span work (perf, bench/notes.md). This
//! encoder computes the exact length once and writes into one buffer. Its output is byte-for-byte
//! what prost writes for [`super::proto::to_proto`] (fields in tag order, proto3 defaults left
//! out), which the tests check against the official schema.

use super::wire::{field_len, key_len, put_field_header, put_key, put_varint, varint_len};
use crate::span::{AttrValue, Attribute, SpanEvent, SpanLink, SpanRecord, SpanStatus};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const FIXED32: u32 = 5;

/// The protobuf bytes of one `Span` message.
pub fn encode_span(s: &SpanRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(span_len(s));
    put_bytes(&mut out, 1, &s.trace_id.0);
    put_bytes(&mut out, 2, &s.span_id.0);
    put_bytes(&mut out, 3, s.trace_state.as_bytes());
    if let Some(parent) = &s.parent_span_id {
        put_bytes(&mut out, 4, &parent.0);
    }
    put_bytes(&mut out, 5, s.name.as_bytes());
    put_varint_field(&mut out, 6, s.kind as u64);
    put_fixed64(&mut out, 7, s.start_time_unix_nano);
    put_fixed64(&mut out, 8, s.end_time_unix_nano);
    for a in &s.attributes {
        put_field_header(&mut out, 9, key_value_len(a));
        put_key_value(&mut out, a);
    }
    for e in &s.events {
        put_field_header(&mut out, 11, event_len(e));
        put_fixed64(&mut out, 1, e.time_unix_nano);
        put_bytes(&mut out, 2, e.name.as_bytes());
    }
    for l in &s.links {
        put_field_header(&mut out, 13, link_len(l));
        put_bytes(&mut out, 1, &l.trace_id.0);
        put_bytes(&mut out, 2, &l.span_id.0);
        put_fixed32(&mut out, 6, l.flags);
    }
    if let SpanStatus::Error(message) = &s.status {
        put_field_header(&mut out, 15, status_len(&s.status));
        put_bytes(&mut out, 2, message.as_bytes());
        put_varint_field(&mut out, 3, status_code(&s.status));
    }
    put_fixed32(&mut out, 16, s.flags);
    out
}

fn span_len(s: &SpanRecord) -> usize {
    let mut n = bytes_len(1, s.trace_id.0.len())
        + bytes_len(2, s.span_id.0.len())
        + bytes_len(3, s.trace_state.len())
        + s.parent_span_id.map_or(0, |p| bytes_len(4, p.0.len()))
        + bytes_len(5, s.name.len())
        + varint_field_len(6, s.kind as u64)
        + fixed64_len(7, s.start_time_unix_nano)
        + fixed64_len(8, s.end_time_unix_nano)
        + fixed32_len(16, s.flags);
    n += s
        .attributes
        .iter()
        .map(|a| field_len(9, key_value_len(a)))
        .sum::<usize>();
    n += s
        .events
        .iter()
        .map(|e| field_len(11, event_len(e)))
        .sum::<usize>();
    n += s
        .links
        .iter()
        .map(|l| field_len(13, link_len(l)))
        .sum::<usize>();
    if matches!(s.status, SpanStatus::Error(_)) {
        n += field_len(15, status_len(&s.status));
    }
    n
}

fn key_value_len(a: &Attribute) -> usize {
    bytes_len(1, a.key.len()) + field_len(2, any_value_len(&a.value))
}

fn put_key_value(out: &mut Vec<u8>, a: &Attribute) {
    put_bytes(out, 1, a.key.as_bytes());
    put_field_header(out, 2, any_value_len(&a.value));
    // `AnyValue.value` is a oneof: its member is written even when it holds the default.
    match &a.value {
        AttrValue::Str(v) => {
            put_field_header(out, 1, v.len());
            out.extend_from_slice(v.as_bytes());
        }
        AttrValue::Int(v) => {
            put_key(out, 3, VARINT);
            put_varint(out, *v as u64);
        }
    }
}

fn any_value_len(v: &AttrValue) -> usize {
    match v {
        AttrValue::Str(s) => field_len(1, s.len()),
        AttrValue::Int(i) => key_len(3) + varint_len(*i as u64),
    }
}

fn event_len(e: &SpanEvent) -> usize {
    fixed64_len(1, e.time_unix_nano) + bytes_len(2, e.name.len())
}

fn link_len(l: &SpanLink) -> usize {
    bytes_len(1, l.trace_id.0.len()) + bytes_len(2, l.span_id.0.len()) + fixed32_len(6, l.flags)
}

fn status_code(s: &SpanStatus) -> u64 {
    u64::try_from(s.code()).unwrap_or(0)
}

fn status_len(s: &SpanStatus) -> usize {
    bytes_len(2, s.message().len()) + varint_field_len(3, status_code(s))
}

/// A length-delimited field with `len` payload bytes, or nothing when empty (proto3 default).
/// Embedded messages use `field_len` directly: prost writes a present message even when empty.
fn bytes_len(field: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        field_len(field, len)
    }
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_field_header(out, field, bytes.len());
        out.extend_from_slice(bytes);
    }
}

fn varint_field_len(field: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(field) + varint_len(v)
    }
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(out, field, VARINT);
        put_varint(out, v);
    }
}

fn fixed64_len(field: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(field) + 8
    }
}

fn put_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn fixed32_len(field: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        key_len(field) + 4
    }
}

fn put_fixed32(out: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        put_key(out, field, FIXED32);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SpanId, TraceId};
    use crate::otlp::{proto, testdata};
    use crate::span::SpanKind;
    use proptest::prelude::*;

    #[test]
    fn same_bytes_as_prost_for_every_fixture() {
        for s in testdata::spans() {
            assert_eq!(encode_span(&s), proto::encode_span(&s), "{}", s.name);
        }
    }

    #[test]
    fn empty_and_extreme_values_match_prost() {
        let mut s = testdata::spans().remove(0);
        s.trace_state = "".into();
        s.name = "".into();
        s.parent_span_id = None;
        s.flags = 0;
        s.start_time_unix_nano = 0;
        s.end_time_unix_nano = u64::MAX;
        s.attributes = vec![
            Attribute::int("negative", -1),
            Attribute::int("zero", 0),
            Attribute::str("empty", ""),
            Attribute::str("", "no key"),
            Attribute::str("long", "x".repeat(300)),
        ];
        s.status = SpanStatus::Error(String::new());
        assert_eq!(encode_span(&s), proto::encode_span(&s));
    }

    fn arb_attr() -> impl Strategy<Value = Attribute<'static>> {
        prop_oneof![
            (".{0,20}", ".{0,200}").prop_map(|(k, v)| Attribute::str(k, v)),
            (".{0,20}", any::<i64>()).prop_map(|(k, v)| Attribute::int(k, v)),
        ]
    }

    proptest! {
        #[test]
        fn same_bytes_as_prost_for_any_span(
            tid in any::<[u8; 16]>(), sid in any::<[u8; 8]>(), parent in any::<Option<[u8; 8]>>(),
            state in ".{0,60}", flags in any::<u32>(), name in ".{0,40}", server in any::<bool>(),
            start in any::<u64>(), end in any::<u64>(),
            attributes in prop::collection::vec(arb_attr(), 0..20),
            event_times in prop::collection::vec(any::<u64>(), 0..3),
            links in prop::collection::vec((any::<[u8; 16]>(), any::<[u8; 8]>(), any::<u32>()), 0..2),
            status in prop::option::of(".{0,30}"),
        ) {
            let s = SpanRecord {
                trace_id: TraceId(tid),
                span_id: SpanId(sid),
                parent_span_id: parent.map(SpanId),
                trace_state: state.into(),
                flags,
                name: name.into(),
                kind: if server { SpanKind::Server } else { SpanKind::Client },
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                events: event_times
                    .into_iter()
                    .map(|t| SpanEvent { time_unix_nano: t, name: "first_byte" })
                    .collect(),
                links: links
                    .into_iter()
                    .map(|(t, s, f)| SpanLink { trace_id: TraceId(t), span_id: SpanId(s), flags: f })
                    .collect(),
                status: status.map_or(SpanStatus::Unset, SpanStatus::Error),
            };
            prop_assert_eq!(encode_span(&s), proto::encode_span(&s));
        }
    }
}
