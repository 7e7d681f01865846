//! Decoding the OTLP/HTTP export requests a filter sends through its callouts, for people (the
//! CLI prints them) and for tests (which check spans without re-implementing protobuf).
//!
//! Uses the official schema (`opentelemetry-proto`), in its JSON mapping (ids as hex).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::state::callouts::Callout;

/// Why a callout body is not an OTLP trace export.
#[derive(Debug)]
pub enum OtlpError {
    /// Protobuf decoding failed.
    Protobuf(prost::DecodeError),
    /// JSON decoding failed.
    Json(serde_json::Error),
    /// The body is gzip-compressed; the shim does not inflate it.
    Compressed,
}

impl std::fmt::Display for OtlpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Protobuf(e) => write!(f, "OTLP protobuf body: {e}"),
            Self::Json(e) => write!(f, "OTLP JSON body: {e}"),
            Self::Compressed => {
                f.write_str("OTLP body is gzip-compressed (content-encoding: gzip)")
            }
        }
    }
}

impl std::error::Error for OtlpError {}

/// Decodes a callout's body as an `ExportTraceServiceRequest`, protobuf or JSON by its
/// `content-type`.
pub fn decode_callout(callout: &Callout) -> Result<ExportTraceServiceRequest, OtlpError> {
    if callout
        .header("content-encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
    {
        return Err(OtlpError::Compressed);
    }
    let json = callout
        .header("content-type")
        .is_some_and(|t| t.contains("json"));
    decode(&callout.body, json)
}

/// Decodes an `ExportTraceServiceRequest` body.
pub fn decode(body: &[u8], json: bool) -> Result<ExportTraceServiceRequest, OtlpError> {
    if json {
        serde_json::from_slice(body).map_err(OtlpError::Json)
    } else {
        ExportTraceServiceRequest::decode(body).map_err(OtlpError::Protobuf)
    }
}

/// Every span in a request, in order.
pub fn spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

/// The request in OTLP's JSON mapping, pretty-printed.
pub fn to_json(request: &ExportTraceServiceRequest) -> String {
    serde_json::to_string_pretty(request).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    use super::*;
    use crate::HeaderMap;

    fn request() -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: vec![0x4b; 16],
            span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
            name: "GET /hello".into(),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn callout(content_type: &str, body: Vec<u8>) -> Callout {
        Callout {
            id: 1,
            context_id: 1,
            cluster: "otlp_collector".into(),
            headers: HeaderMap::from_pairs([("content-type", content_type)]),
            body,
            trailers: HeaderMap::new(),
            timeout: Some(Duration::from_secs(10)),
            dispatched_at: Duration::ZERO,
        }
    }

    #[test]
    fn protobuf_and_json_bodies_decode_to_the_same_spans() {
        let protobuf = callout("application/x-protobuf", request().encode_to_vec());
        let decoded = decode_callout(&protobuf).unwrap();
        assert_eq!(spans(&decoded).len(), 1);
        let json = to_json(&decoded);
        assert!(json.contains("00f067aa0ba902b7"), "ids in hex: {json}");
        let from_json = decode_callout(&callout("application/json", json.into_bytes())).unwrap();
        assert_eq!(from_json, decoded);
    }

    #[test]
    fn gzip_and_garbage_are_reported() {
        let mut gz = callout("application/x-protobuf", vec![0x1f, 0x8b]);
        gz.headers.add("content-encoding", "gzip");
        assert!(matches!(decode_callout(&gz), Err(OtlpError::Compressed)));
        assert!(decode_callout(&callout("application/x-protobuf", vec![0xff; 3])).is_err());
    }
}
