//! The finished-span model: what `build_spans` produces and `otlp` encodes.
//!
//! It mirrors the OTLP `Span` message closely so encoding is a field-by-field copy, but stays free of
//! prost types so span building is testable without the wire format. Keys and values are `Cow`s:
//! keys are mostly semantic-convention constants and values mostly borrowed facts, so building a
//! span allocates little.

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

/// An attribute value: the two `AnyValue` kinds HTTP spans need. Strings borrow from the request's
/// facts where they can: a span is encoded right after it is built, so copying them would only
/// feed the allocator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// `stringValue`.
    Str(Cow<'a, str>),
    /// `intValue`.
    Int(i64),
}

/// One span or resource attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute name, e.g. `http.request.method`.
    pub key: Cow<'a, str>,
    /// Its value.
    pub value: AttrValue<'a>,
}

impl<'a> Attribute<'a> {
    /// A string attribute.
    pub fn str(key: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Self {
        Attribute {
            key: key.into(),
            value: AttrValue::Str(value.into()),
        }
    }
    /// An integer attribute.
    pub fn int(key: impl Into<Cow<'a, str>>, value: i64) -> Self {
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
pub struct SpanRecord<'a> {
    /// Trace id.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The parent span, `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C `tracestate` as propagated upstream ("" when none).
    pub trace_state: Cow<'a, str>,
    /// OTLP flags: W3C trace flags in bits 0-7, [`FLAG_HAS_IS_REMOTE`] and [`FLAG_IS_REMOTE`].
    pub flags: u32,
    /// Span name, `{method} {route}` or `{method}`.
    pub name: Cow<'a, str>,
    /// SERVER or CLIENT.
    pub kind: SpanKind,
    /// Start, ns since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, ns since the Unix epoch (never before the start).
    pub end_time_unix_nano: u64,
    /// Attributes, in a stable order.
    pub attributes: Vec<Attribute<'a>>,
    /// Events, in time order.
    pub events: Vec<SpanEvent>,
    /// Links.
    pub links: Vec<SpanLink>,
    /// Status.
    pub status: SpanStatus,
}

impl<'a> AttrValue<'a> {
    /// This value owning its string.
    pub fn into_owned(self) -> AttrValue<'static> {
        match self {
            AttrValue::Str(s) => AttrValue::Str(Cow::Owned(s.into_owned())),
            AttrValue::Int(i) => AttrValue::Int(i),
        }
    }
}

impl<'a> Attribute<'a> {
    /// This attribute owning its key and value.
    pub fn into_owned(self) -> Attribute<'static> {
        Attribute {
            key: Cow::Owned(self.key.into_owned()),
            value: self.value.into_owned(),
        }
    }
}

impl<'a> SpanRecord<'a> {
    /// This span owning everything it borrowed from the facts (to keep it past them).
    pub fn into_owned(self) -> SpanRecord<'static> {
        SpanRecord {
            trace_state: Cow::Owned(self.trace_state.into_owned()),
            name: Cow::Owned(self.name.into_owned()),
            attributes: self
                .attributes
                .into_iter()
                .map(Attribute::into_owned)
                .collect(),
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            flags: self.flags,
            kind: self.kind,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            events: self.events,
            links: self.links,
            status: self.status,
        }
    }

    /// The value of the first attribute named `key` (tests and the shim CLI read spans this way).
    pub fn attribute(&self, key: &str) -> Option<&AttrValue<'a>> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}
