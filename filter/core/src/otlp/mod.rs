//! OTLP encoding: each finished span is encoded once (protobuf or JSON), and a batch is framed around
//! the stored bytes, so nothing is re-encoded at export time and the queue's byte bound is exact.

pub mod direct;
pub mod gzip;
pub mod json;
pub mod proto;
pub mod response;
pub(crate) mod wire;

#[cfg(test)]
pub(crate) mod testdata;

use crate::config::Encoding;
use crate::span::{ResourceInfo, SpanRecord};

pub use gzip::gzip;
pub use response::{parse_response, PartialSuccess};

/// Instrumentation scope name on every batch.
pub const SCOPE_NAME: &str = "hoptrace";
/// Instrumentation scope version: this crate's version.
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `content-type` of an export request body.
pub fn content_type(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    }
}

/// One span in the configured encoding (the bytes the export queue stores). Takes the record by
/// value: it is done once the span is encoded.
pub fn encode_span_for(encoding: Encoding, span: SpanRecord) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => direct::encode_span(&span),
        Encoding::Json => json::encode_span_json(&span).into_bytes(),
    }
}

/// The resource in the configured encoding.
pub fn encode_resource_for(encoding: Encoding, resource: &ResourceInfo) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => proto::encode_resource(resource),
        Encoding::Json => json::encode_resource_json(resource).into_bytes(),
    }
}

/// The instrumentation scope in the configured encoding.
pub fn encode_scope_for(encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => proto::encode_scope(),
        Encoding::Json => json::encode_scope_json().into_bytes(),
    }
}

/// An `ExportTraceServiceRequest` body in the configured encoding, framed around stored spans.
pub fn frame_for<'a, I>(encoding: Encoding, resource: &[u8], scope: &[u8], spans: I) -> Vec<u8>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: Clone,
{
    match encoding {
        Encoding::Protobuf => proto::frame_spans(resource, scope, spans),
        Encoding::Json => json::frame_spans_json(resource, scope, spans),
    }
}
