//! OTLP/protobuf: spans, resource and scope as `opentelemetry-proto` messages encoded with prost, and
//! the `ExportTraceServiceRequest` framing written by hand around already-encoded spans.
//!
//! Message nesting framed here (field numbers from the OTLP protos):
//! `ExportTraceServiceRequest.resource_spans`(1) → `ResourceSpans{resource(1), scope_spans(2)}` →
//! `ScopeSpans{scope(1), spans(2)*}`.

use super::wire::{field_len, put_field_header};
use super::{SCOPE_NAME, SCOPE_VERSION};
use crate::span::{AttrValue, Attribute, ResourceInfo, SpanRecord, SpanStatus};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};
use prost::Message;

/// The official `Span` message for `span` (copies; [`into_proto`] moves the strings instead).
pub fn to_proto(s: &SpanRecord) -> Span {
    into_proto(s.clone())
}

/// The official `Span` message, moving the record's strings instead of copying them.
pub fn into_proto(s: SpanRecord) -> Span {
    Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: s.flags,
        kind: s.kind as i32,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: s.attributes.into_iter().map(into_key_value).collect(),
        dropped_attributes_count: 0,
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.to_owned(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: s
            .links
            .iter()
            .map(|l| span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: String::new(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: 0,
        // Unset status is the message default: leave it out.
        status: match s.status {
            SpanStatus::Unset => None,
            SpanStatus::Error(message) => Some(Status {
                message,
                code: StatusCode::Error as i32,
            }),
        },
        trace_state: s.trace_state.into_owned(),
        name: s.name.into_owned(),
    }
}

fn into_key_value(a: Attribute) -> KeyValue {
    let value = match a.value {
        AttrValue::Str(s) => any_value::Value::StringValue(s.into_owned()),
        AttrValue::Int(i) => any_value::Value::IntValue(i),
    };
    KeyValue {
        key: a.key.into_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// An attribute as an OTLP `KeyValue`.
pub fn key_value(a: &Attribute) -> KeyValue {
    let value = match &a.value {
        AttrValue::Str(s) => any_value::Value::StringValue(s.to_string()),
        AttrValue::Int(i) => any_value::Value::IntValue(*i),
    };
    KeyValue {
        key: a.key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// The protobuf bytes of one `Span` message through prost. Requests use [`super::direct`], which
/// writes the same bytes without building the message; this is its reference.
pub fn encode_span(span: &SpanRecord) -> Vec<u8> {
    to_proto(span).encode_to_vec()
}

/// The protobuf bytes of the `Resource` message.
pub fn encode_resource(resource: &ResourceInfo) -> Vec<u8> {
    Resource {
        attributes: resource.attributes.iter().map(key_value).collect(),
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
    .encode_to_vec()
}

/// The protobuf bytes of the `InstrumentationScope` message (`hoptrace`, crate version).
pub fn encode_scope() -> Vec<u8> {
    InstrumentationScope {
        name: SCOPE_NAME.to_owned(),
        version: SCOPE_VERSION.to_owned(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
    .encode_to_vec()
}

/// An `ExportTraceServiceRequest` with one `ResourceSpans` and one `ScopeSpans` holding `spans`
/// (each an encoded `Span` message), written around the stored bytes.
pub fn frame_request(resource_bytes: &[u8], scope_bytes: &[u8], spans: &[&[u8]]) -> Vec<u8> {
    frame_spans(resource_bytes, scope_bytes, spans.iter().copied())
}

/// [`frame_request`] over any re-iterable sequence of encoded spans (the queue's storage).
pub fn frame_spans<'a, I>(resource_bytes: &[u8], scope_bytes: &[u8], spans: I) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    let spans = spans.into_iter();
    let spans_len: usize = spans.clone().map(|s| field_len(2, s.len())).sum();
    let scope_spans_len = field_len(1, scope_bytes.len()) + spans_len;
    let resource_spans_len = field_len(1, resource_bytes.len()) + field_len(2, scope_spans_len);
    let mut out = Vec::with_capacity(field_len(1, resource_spans_len));
    put_field_header(&mut out, 1, resource_spans_len); // ExportTraceServiceRequest.resource_spans
    put_field_header(&mut out, 1, resource_bytes.len()); // ResourceSpans.resource
    out.extend_from_slice(resource_bytes);
    put_field_header(&mut out, 2, scope_spans_len); // ResourceSpans.scope_spans
    put_field_header(&mut out, 1, scope_bytes.len()); // ScopeSpans.scope
    out.extend_from_slice(scope_bytes);
    for s in spans {
        put_field_header(&mut out, 2, s.len()); // ScopeSpans.spans
        out.extend_from_slice(s);
    }
    out
}

#[cfg(test)]
mod tests;
