//! Decoding OTLP/HTTP trace export bodies with the official schema (`opentelemetry-proto` + prost for
//! `application/x-protobuf`, its serde mapping for `application/json`, `gzip` via flate2), and a flat
//! view of received spans with the lookups tests need (hex ids, attributes by key, durations).

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span};
use prost::Message;

/// OTLP span kind SERVER.
pub const KIND_SERVER: i32 = span::SpanKind::Server as i32;
/// OTLP span kind CLIENT.
pub const KIND_CLIENT: i32 = span::SpanKind::Client as i32;
/// OTLP status code ERROR.
pub const STATUS_ERROR: i32 = status::StatusCode::Error as i32;
/// OTLP status code UNSET.
pub const STATUS_UNSET: i32 = status::StatusCode::Unset as i32;

/// Decodes an export request body given its `content-type` and `content-encoding` headers.
pub fn decode_request(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<ExportTraceServiceRequest> {
    let plain = match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => body.to_vec(),
        Some(e) if e.is_empty() || e == "identity" => body.to_vec(),
        Some(e) if e == "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .context("gzip body")?;
            out
        }
        Some(e) => bail!("unsupported content-encoding {e:?}"),
    };
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => {
            ExportTraceServiceRequest::decode(plain.as_slice()).context("OTLP protobuf body")
        }
        "application/json" => serde_json::from_slice(&plain).context("OTLP/JSON body"),
        other => Err(anyhow!("unsupported content-type {other:?}")),
    }
}

/// Encodes a request as OTLP/JSON (hex ids, camelCase, integer enums, 64-bit integers as strings).
pub fn to_json(request: &ExportTraceServiceRequest) -> Result<String> {
    Ok(serde_json::to_string(request)?)
}

/// One span with the resource and scope it came with.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// Resource attributes of its `ResourceSpans`.
    pub resource: Vec<KeyValue>,
    /// Instrumentation scope name.
    pub scope: String,
    /// The span as decoded.
    pub span: Span,
}

impl ReceivedSpan {
    /// A span of trace `ab…ab` from `service`, as unit tests of the trace views build them: ids are
    /// `id` (and `parent`) repeated, times in ns.
    #[cfg(test)]
    pub(crate) fn fixture(
        service: &str,
        kind: i32,
        id: u8,
        parent: Option<u8>,
        start_ns: u64,
        end_ns: u64,
    ) -> Self {
        use opentelemetry_proto::tonic::common::v1::AnyValue;
        ReceivedSpan {
            resource: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(service.into())),
                }),
            }],
            scope: "hoptrace".into(),
            span: Span {
                trace_id: vec![0xab; 16],
                span_id: vec![id; 8],
                parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
                kind,
                start_time_unix_nano: start_ns,
                end_time_unix_nano: end_ns,
                ..Default::default()
            },
        }
    }
}

/// Every span of a request, flattened.
pub fn flatten(request: &ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.clone())
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            let scope = ss
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for span in &ss.spans {
                out.push(ReceivedSpan {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    span: span.clone(),
                });
            }
        }
    }
    out
}

/// Lower-case hex of bytes (ids as W3C writes them).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// A string attribute.
pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match find(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// An integer attribute.
pub fn attr_int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match find(attrs, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// The spans of one trace, in arrival order.
pub fn of_trace<'a>(spans: &'a [ReceivedSpan], trace_id: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.trace_id() == trace_id).collect()
}

/// Span ids seen more than once (an exporter must not deliver a span twice).
pub fn duplicate_span_ids(spans: &[ReceivedSpan]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    spans
        .iter()
        .map(ReceivedSpan::span_id)
        .filter(|id| !seen.insert(id.clone()))
        .collect()
}

impl ReceivedSpan {
    /// Trace id, 32 hex chars.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// Span id, 16 hex chars.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// Parent span id, 16 hex chars, or empty for a root span.
    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// OTLP span kind (see [`KIND_SERVER`], [`KIND_CLIENT`]).
    pub fn kind(&self) -> i32 {
        self.span.kind
    }

    /// A string attribute of the span.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        attr_str(&self.span.attributes, key)
    }

    /// An integer attribute of the span.
    pub fn attr_int(&self, key: &str) -> Option<i64> {
        attr_int(&self.span.attributes, key)
    }

    /// A string attribute of the resource.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        attr_str(&self.resource, key)
    }

    /// End minus start (zero if the span ends before it starts).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(
            self.span
                .end_time_unix_nano
                .saturating_sub(self.span.start_time_unix_nano),
        )
    }

    /// OTLP status code (see [`STATUS_ERROR`]).
    pub fn status_code(&self) -> i32 {
        self.span.status.as_ref().map(|s| s.code).unwrap_or(0)
    }

    /// A one-line summary for assertion messages.
    pub fn summary(&self) -> String {
        format!(
            "{} kind={} trace={} span={} parent={} status={} dur={:?}",
            self.span.name,
            self.kind(),
            self.trace_id(),
            self.span_id(),
            self.parent_id(),
            self.status_code(),
            self.duration()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    fn request() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0xcd; 8],
                        name: "GET".into(),
                        kind: KIND_SERVER,
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        end_time_unix_nano: 1_700_000_000_250_000_000,
                        attributes: vec![KeyValue {
                            key: "http.response.status_code".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::IntValue(503)),
                            }),
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn protobuf_round_trip() {
        let body = request().encode_to_vec();
        let decoded = decode_request(&body, Some("application/x-protobuf"), None).unwrap();
        assert_eq!(decoded, request());
    }

    #[test]
    fn json_follows_otlp_json_rules() {
        let json = to_json(&request()).unwrap();
        // Hex ids, camelCase names, integer enums, 64-bit integers as decimal strings.
        assert!(
            json.contains(r#""traceId":"abababababababababababababababab""#),
            "{json}"
        );
        assert!(json.contains(r#""spanId":"cdcdcdcdcdcdcdcd""#), "{json}");
        assert!(json.contains(r#""kind":2"#), "{json}");
        assert!(
            json.contains(r#""startTimeUnixNano":"1700000000000000000""#),
            "{json}"
        );
        assert!(json.contains(r#""intValue":"503""#), "{json}");
        let back = decode_request(json.as_bytes(), Some("application/json"), None).unwrap();
        assert_eq!(back, request());
    }

    #[test]
    fn gzip_body() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&request().encode_to_vec()).unwrap();
        let body = gz.finish().unwrap();
        let decoded = decode_request(&body, Some("application/x-protobuf"), Some("gzip")).unwrap();
        let spans = flatten(&decoded);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].duration(), Duration::from_millis(250));
        assert_eq!(spans[0].attr_int("http.response.status_code"), Some(503));
    }
}
