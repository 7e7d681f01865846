//! The finished-span model: what `build_spans` produces and `otlp` encodes.
//!
//! It mirrors the OTLP `Span` message closely so encoding is a field-by-field copy, but stays free of
//! prost types so span building is testable without the wire format. Attribute keys are
//! `Cow<'static, str>` because almost all of them are semantic-convention constants: no allocation.

use crate::ids::{SpanId, TraceId};
use std::borrow::Cow;

/// OTLP `Span.flags` bit 8: whether the parent is known to be remote or not.
pub const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP `Span.flags` bit 9: the parent is remote (meaningful only with [`FLAG_HAS_IS_REMOTE`]).
pub const FLAG_IS_REMOTE: u32 = 0x200;

/// OTLP span kinds we make (values are the OTLP enum numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// `SPAN_KIND_SERVER` (2): the hop handling the downstream request.
    Server = 2,
    /// `SPAN_KIND_CLIENT` (3): the upstream call.
    Client = 3,
}

/// OTLP status (`code` values are the OTLP enum numbers: Unset 0, Ok 1, Error 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SpanStatus {
    /// `STATUS_CODE_UNSET`: HTTP instrumentation leaves successful spans unset.
    #[default]
    Unset,
    /// `STATUS_CODE_ERROR` with a message (empty when the status code says it all).
    Error(String),
}

impl SpanStatus {
    /// The OTLP `StatusCode` number.
    pub fn code(&self) -> i32 {
        match self {
            SpanStatus::Unset => 0,
            SpanStatus::Error(_) => 2,
        }
    }
    /// The status message ("" when none).
    pub fn message(&self) -> &str {
        match self {
            SpanStatus::Unset => "",
            SpanStatus::Error(m) => m,
        }
    }
}

/// An attribute value: the two `AnyValue` kinds HTTP spans need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// `stringValue`.
    Str(String),
    /// `intValue`.
    Int(i64),
}

/// One span or resource attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name, e.g. `http.request.method`.
    pub key: Cow<'static, str>,
    /// Its value.
    pub value: AttrValue,
}

impl Attribute {
    /// A string attribute.
    pub fn str(key: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        Attribute {
            key: key.into(),
            value: AttrValue::Str(value.into()),
        }
    }
    /// An integer attribute.
    pub fn int(key: impl Into<Cow<'static, str>>, value: i64) -> Self {
        Attribute {
            key: key.into(),
            value: AttrValue::Int(value),
        }
    }
}

/// A timed event inside a span (no attributes: we only record instants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanEvent {
    /// Nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Event name, e.g. [`crate::span::semconv::EVENT_FIRST_RESPONSE_BYTE`].
    pub name: &'static str,
}

/// A link to another trace's span (an untrusted incoming context we did not parent to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanLink {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// OTLP link flags: W3C flags in bits 0-7 plus the remote bits 8-9.
    pub flags: u32,
}

/// One finished span, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The parent span, `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C `tracestate` as propagated upstream ("" when none).
    pub trace_state: String,
    /// OTLP flags: W3C trace flags in bits 0-7, [`FLAG_HAS_IS_REMOTE`] and [`FLAG_IS_REMOTE`].
    pub flags: u32,
    /// Span name, `{method} {route}` or `{method}`.
    pub name: String,
    /// SERVER or CLIENT.
    pub kind: SpanKind,
    /// Start, ns since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, ns since the Unix epoch (never before the start).
    pub end_time_unix_nano: u64,
    /// Attributes, in a stable order.
    pub attributes: Vec<Attribute>,
    /// Events, in time order.
    pub events: Vec<SpanEvent>,
    /// Links.
    pub links: Vec<SpanLink>,
    /// Status.
    pub status: SpanStatus,
}

impl SpanRecord {
    /// The value of the first attribute named `key` (tests and the shim CLI read spans this way).
    pub fn attribute(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}
