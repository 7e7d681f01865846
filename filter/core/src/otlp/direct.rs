//! The per-request `Span` encoder: protobuf bytes written straight from a [`SpanRecord`].
//!
//! Building the prost `Span` message first copies every id into a `Vec`, every attribute key into a
//! `String` and wraps each value in two more structs, then walks the tree twice (length, bytes);
//! those allocations were a quarter of a sampled request's span work (perf; `docs/ARCHITECTURE.md`). This
//! encoder computes the exact length once and writes into one buffer. Its output is byte-for-byte
//! what prost writes for [`super::proto::to_proto`] (fields in tag order, proto3 defaults left
//! out), which the tests check against the official schema.

use super::wire::{field_len, key_len, put_field_header, put_key, put_varint, varint_len};
use crate::span::{AttrValue, Attribute, SpanEvent, SpanLink, SpanRecord, SpanSink, SpanStatus};
use std::borrow::Cow;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const FIXED32: u32 = 5;

/// The protobuf bytes of one `Span` message.
pub fn encode_span(s: &SpanRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(span_len(s));
    put_head(&mut out, s);
    for a in &s.attributes {
        match &a.value {
            AttrValue::Str(v) => put_str_attribute(&mut out, &a.key, v),
            AttrValue::Int(v) => put_int_attribute(&mut out, &a.key, *v),
        }
    }
    put_tail(&mut out, s);
    out
}

/// Writes each span of a hop as protobuf while it is built ([`SpanSink`]) and hands its bytes to
/// `done`: the same bytes as [`encode_span`] of the built record, without the record's attribute
/// list. The bytes are assembled in a buffer the caller keeps across requests, then copied once
/// into an exactly sized `Vec` (the export queue's byte bound counts lengths).
pub struct SpanWriter<'a, 'b, F: FnMut(Vec<u8>)> {
    buf: &'b mut Vec<u8>,
    tail: Option<SpanRecord<'a>>,
    done: F,
}

impl<'a, 'b, F: FnMut(Vec<u8>)> SpanWriter<'a, 'b, F> {
    /// A writer assembling in `buf` (its contents are discarded) and handing each span to `done`.
    pub fn new(buf: &'b mut Vec<u8>, done: F) -> Self {
        SpanWriter {
            buf,
            tail: None,
            done,
        }
    }
}

impl<'a, F: FnMut(Vec<u8>)> SpanSink<'a> for SpanWriter<'a, '_, F> {
    fn begin(&mut self, span: SpanRecord<'a>) {
        self.buf.clear();
        put_head(self.buf, &span);
        self.tail = Some(span);
    }

    fn str(&mut self, key: &'a str, value: Cow<'a, str>) {
        put_str_attribute(self.buf, key, &value);
    }

    fn int(&mut self, key: &'a str, value: i64) {
        put_int_attribute(self.buf, key, value);
    }

    fn end(&mut self) {
        if let Some(span) = self.tail.take() {
            put_tail(self.buf, &span);
            (self.done)(self.buf.as_slice().to_vec());
        }
    }
}

/// Fields 1-8, everything before the attributes.
fn put_head(out: &mut Vec<u8>, s: &SpanRecord) {
    put_bytes(out, 1, &s.trace_id.0);
    put_bytes(out, 2, &s.span_id.0);
    put_bytes(out, 3, s.trace_state.as_bytes());
    if let Some(parent) = &s.parent_span_id {
        put_bytes(out, 4, &parent.0);
    }
    put_bytes(out, 5, s.name.as_bytes());
    put_varint_field(out, 6, s.kind as u64);
    put_fixed64(out, 7, s.start_time_unix_nano);
    put_fixed64(out, 8, s.end_time_unix_nano);
}

/// Fields 11-16, everything after the attributes.
fn put_tail(out: &mut Vec<u8>, s: &SpanRecord) {
    for e in &s.events {
        put_field_header(out, 11, event_len(e));
        put_fixed64(out, 1, e.time_unix_nano);
        put_bytes(out, 2, e.name.as_bytes());
    }
    for l in &s.links {
        put_field_header(out, 13, link_len(l));
        put_bytes(out, 1, &l.trace_id.0);
        put_bytes(out, 2, &l.span_id.0);
        put_fixed32(out, 6, l.flags);
    }
    if let SpanStatus::Error(message) = &s.status {
        put_field_header(out, 15, status_len(&s.status));
        put_bytes(out, 2, message.as_bytes());
        put_varint_field(out, 3, status_code(&s.status));
    }
    put_fixed32(out, 16, s.flags);
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

/// Keys of the fields a `KeyValue` is framed with (wire type 2, length-delimited).
const KEY_VALUE: u8 = (9 << 3) | 2;
const KEY: u8 = (1 << 3) | 2;
const VALUE: u8 = (2 << 3) | 2;
const STRING_VALUE: u8 = (1 << 3) | 2;
const INT_VALUE: u8 = 3 << 3;

/// One `KeyValue` (field 9) holding a string. `AnyValue.value` is a oneof: its member is written
/// even when it holds the default.
fn put_str_attribute(out: &mut Vec<u8>, key: &str, value: &str) {
    let any_len = field_len(1, value.len());
    let kv_len = bytes_len(1, key.len()) + field_len(2, any_len);
    if let (false, Ok(kv), Ok(k), Ok(any), Ok(v)) = (
        key.is_empty(),
        u8::try_from(kv_len),
        u8::try_from(key.len()),
        u8::try_from(any_len),
        u8::try_from(value.len()),
    ) {
        if kv < 0x80 {
            // Every length fits one varint byte (nearly every attribute): the framing is two
            // 4-byte writes instead of eight pushes that each check the capacity.
            out.reserve(2 + kv_len);
            out.extend_from_slice(&[KEY_VALUE, kv, KEY, k]);
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&[VALUE, any, STRING_VALUE, v]);
            out.extend_from_slice(value.as_bytes());
            return;
        }
    }
    put_field_header(out, 9, kv_len);
    put_bytes(out, 1, key.as_bytes());
    put_field_header(out, 2, any_len);
    put_field_header(out, 1, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// One `KeyValue` (field 9) holding an integer.
fn put_int_attribute(out: &mut Vec<u8>, key: &str, value: i64) {
    let any_len = key_len(3) + varint_len(value as u64);
    let kv_len = bytes_len(1, key.len()) + field_len(2, any_len);
    if let (false, Ok(kv), Ok(k), Ok(any)) = (
        key.is_empty(),
        u8::try_from(kv_len),
        u8::try_from(key.len()),
        u8::try_from(any_len),
    ) {
        if kv < 0x80 {
            out.reserve(2 + kv_len);
            out.extend_from_slice(&[KEY_VALUE, kv, KEY, k]);
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&[VALUE, any, INT_VALUE]);
            put_varint(out, value as u64);
            return;
        }
    }
    put_field_header(out, 9, kv_len);
    put_bytes(out, 1, key.as_bytes());
    put_field_header(out, 2, any_len);
    put_key(out, 3, VARINT);
    put_varint(out, value as u64);
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
    use crate::ids::{SpanId, TraceFlags, TraceId};
    use crate::otlp::{proto, testdata};
    use crate::span::{
        build_spans, build_spans_into, LinkedContext, RequestFacts, ResponseFacts, SpanContextIds,
        SpanKind, SpanPlan, SpanSettings,
    };
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

    #[test]
    fn attributes_around_the_one_byte_length_limit_match_prost() {
        let mut s = testdata::spans().remove(0);
        for len in 100..140 {
            s.attributes = vec![
                Attribute::str("http.request.method", "x".repeat(len)),
                Attribute::str("k".repeat(len), "v"),
                Attribute::int("k".repeat(len), i64::MIN),
            ];
            assert_eq!(encode_span(&s), proto::encode_span(&s), "{len}");
        }
    }

    /// What `SpanWriter` hands over while `build_spans_into` runs.
    fn written(
        ctx: &SpanContextIds,
        plan: SpanPlan,
        req: &RequestFacts,
        end: &ResponseFacts,
        settings: &SpanSettings,
    ) -> Vec<Vec<u8>> {
        let mut spans = Vec::new();
        // A buffer left dirty by an earlier request must not leak into the next span.
        let mut scratch = b"left over from another request".to_vec();
        let mut writer = SpanWriter::new(&mut scratch, |bytes| spans.push(bytes));
        build_spans_into(ctx, plan, req, end, settings, &mut writer);
        spans
    }

    fn encoded_records(
        ctx: &SpanContextIds,
        plan: SpanPlan,
        req: &RequestFacts,
        end: &ResponseFacts,
        settings: &SpanSettings,
    ) -> Vec<Vec<u8>> {
        build_spans(ctx, plan, req, end, settings)
            .iter()
            .map(encode_span)
            .collect()
    }

    proptest! {
        #[test]
        fn the_writer_writes_what_the_built_records_encode_to(
            plan in prop_oneof![
                Just(SpanPlan::Server), Just(SpanPlan::Client), Just(SpanPlan::ServerAndClient)
            ],
            parent in any::<Option<[u8; 8]>>(),
            linked in any::<bool>(),
            state in ".{0,40}",
            texts in prop::collection::vec(".{0,40}", 9),
            authority in prop_oneof![Just("svc:8080".to_string()), ".{0,20}"],
            client in prop_oneof![Just("[2001:db8::1]:4444".to_string()), ".{0,20}"],
            captured in prop::collection::vec((".{0,10}", ".{0,20}"), 0..3),
            statics in prop::collection::vec((".{0,10}", ".{0,20}"), 0..3),
            code in prop_oneof![Just(0u16), Just(200), Just(404), Just(503), any::<u16>()],
            flags in prop_oneof![Just(0u64), any::<u64>()],
            times in any::<(u32, u32, u32)>(),
            first_byte in any::<Option<u32>>(),
            redact_query in any::<bool>(),
        ) {
            let t0 = 1_700_000_000_000_000_000u64;
            let ctx = SpanContextIds {
                trace_id: TraceId([7; 16]),
                parent_span_id: parent.map(SpanId),
                server_span_id: SpanId([1; 8]),
                client_span_id: SpanId([2; 8]),
                flags: TraceFlags(0x03),
                trace_state: state,
                linked: linked.then_some(LinkedContext {
                    trace_id: TraceId([9; 16]),
                    span_id: SpanId([8; 8]),
                    flags: TraceFlags(1),
                }),
                kept: None,
                sampling_rule: None,
            };
            let req = RequestFacts {
                method: texts[0].clone(),
                path: format!("{}?{}", texts[1], texts[2]),
                scheme: texts[3].clone(),
                authority,
                user_agent: texts[4].clone(),
                protocol: texts[5].clone(),
                client_address: client,
                captured_headers: captured,
                start_unix_nano: t0 + u64::from(times.0),
            };
            let end = ResponseFacts {
                status_code: code,
                response_flags: flags,
                response_code_details: texts[6].clone(),
                upstream_cluster: texts[7].clone(),
                upstream_address: texts[8].clone(),
                route_name: texts[2].clone(),
                captured_headers: vec![],
                upstream_start_unix_nano: Some(t0 + u64::from(times.1)),
                first_upstream_byte_unix_nano: first_byte.map(|t| t0 + u64::from(t)),
                end_unix_nano: t0 + u64::from(times.2),
            };
            let settings = SpanSettings { redact_query, static_attributes: statics, ..SpanSettings::default() };
            prop_assert_eq!(
                written(&ctx, plan, &req, &end, &settings),
                encoded_records(&ctx, plan, &req, &end, &settings)
            );
        }
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
