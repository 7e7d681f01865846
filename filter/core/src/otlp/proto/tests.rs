//! OTLP/protobuf: what frame_request writes, decoded with the official schema, equals what was built.

use super::*;
use crate::ids::{SpanId, TraceId};
use crate::otlp::testdata;
use crate::span::{SpanKind, SpanStatus};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

fn attr_value(v: &Option<AnyValue>) -> AttrValue<'static> {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s.clone().into()),
        Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
        other => panic!("unexpected value {other:?}"),
    }
}

/// Compare one decoded span with its record, field by field (not through `to_proto`).
fn assert_same(got: &Span, want: &SpanRecord) {
    assert_eq!(
        TraceId(got.trace_id.clone().try_into().unwrap()),
        want.trace_id
    );
    assert_eq!(
        SpanId(got.span_id.clone().try_into().unwrap()),
        want.span_id
    );
    let parent = (!got.parent_span_id.is_empty())
        .then(|| SpanId(got.parent_span_id.clone().try_into().unwrap()));
    assert_eq!(parent, want.parent_span_id);
    assert_eq!(got.trace_state, want.trace_state);
    assert_eq!(got.flags, want.flags);
    assert_eq!(got.name, want.name);
    let kind = match want.kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
    };
    assert_eq!(got.kind, kind as i32);
    assert_eq!(got.start_time_unix_nano, want.start_time_unix_nano);
    assert_eq!(got.end_time_unix_nano, want.end_time_unix_nano);
    assert_eq!(got.attributes.len(), want.attributes.len());
    for (g, w) in got.attributes.iter().zip(&want.attributes) {
        assert_eq!(g.key, w.key);
        assert_eq!(attr_value(&g.value), w.value, "{}", w.key);
    }
    assert_eq!(got.events.len(), want.events.len());
    for (g, w) in got.events.iter().zip(&want.events) {
        assert_eq!(
            (g.time_unix_nano, g.name.as_str()),
            (w.time_unix_nano, w.name)
        );
    }
    assert_eq!(got.links.len(), want.links.len());
    for (g, w) in got.links.iter().zip(&want.links) {
        assert_eq!(g.trace_id, w.trace_id.0);
        assert_eq!(g.span_id, w.span_id.0);
        assert_eq!(g.flags, w.flags);
    }
    let status = got.status.clone().unwrap_or_default();
    match &want.status {
        SpanStatus::Unset => assert_eq!(status.code, StatusCode::Unset as i32),
        SpanStatus::Error(m) => {
            assert_eq!(status.code, StatusCode::Error as i32);
            assert_eq!(&status.message, m);
        }
    }
}

#[test]
fn framed_batch_decodes_with_the_official_schema() {
    let spans = testdata::spans();
    let resource = testdata::resource();
    let encoded: Vec<Vec<u8>> = spans.iter().map(encode_span).collect();
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let body = frame_request(&encode_resource(&resource), &encode_scope(), &refs);

    let req = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
    assert_eq!(req.resource_spans.len(), 1);
    let rs = &req.resource_spans[0];
    let res = rs.resource.as_ref().unwrap();
    assert_eq!(res.attributes.len(), resource.attributes.len());
    for (g, w) in res.attributes.iter().zip(&resource.attributes) {
        assert_eq!(g.key, w.key);
        assert_eq!(attr_value(&g.value), w.value);
    }
    assert_eq!(rs.scope_spans.len(), 1);
    let ss = &rs.scope_spans[0];
    let scope = ss.scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("hoptrace", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(ss.spans.len(), spans.len());
    for (g, w) in ss.spans.iter().zip(&spans) {
        assert_same(g, w);
    }
    // Framing is byte-identical to prost encoding the whole request.
    assert_eq!(body, req.encode_to_vec());
}

#[test]
fn framing_with_multi_byte_lengths_and_no_spans() {
    let span = &testdata::spans()[1];
    let one = encode_span(span);
    let many: Vec<&[u8]> = std::iter::repeat_n(one.as_slice(), 300).collect();
    let body = frame_request(
        &encode_resource(&testdata::resource()),
        &encode_scope(),
        &many,
    );
    let req = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
    let got = &req.resource_spans[0].scope_spans[0].spans;
    assert_eq!(got.len(), 300);
    assert_same(&got[299], span);
    assert_eq!(body, req.encode_to_vec());

    let empty = frame_request(&[], &encode_scope(), &[]);
    let req = ExportTraceServiceRequest::decode(empty.as_slice()).unwrap();
    assert!(req.resource_spans[0].scope_spans[0].spans.is_empty());
}

#[test]
fn unset_status_is_left_out() {
    let mut span = testdata::spans().remove(0);
    span.status = SpanStatus::Unset;
    let decoded = Span::decode(encode_span(&span).as_slice()).unwrap();
    assert_eq!(decoded.status, None);
    assert_same(&decoded, &span);
}
