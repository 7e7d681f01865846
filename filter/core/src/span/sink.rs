//! Where a span goes while it is built: into a list of [`SpanRecord`]s (tests, JSON, the shim), or
//! straight into protobuf bytes (`otlp::direct::SpanWriter`, the per-request path), so that the
//! protobuf path never materialises, walks twice and drops a list of attributes.

use super::record::{Attribute, SpanRecord};
use std::borrow::Cow;

/// Receives the spans of one hop, one at a time: [`SpanSink::begin`] with everything but the
/// attributes, then each attribute in order, then [`SpanSink::end`].
pub trait SpanSink<'a> {
    /// A span starts; `span.attributes` is empty and its attributes follow.
    fn begin(&mut self, span: SpanRecord<'a>);
    /// A string attribute of the current span.
    fn str(&mut self, key: &'a str, value: Cow<'a, str>);
    /// An integer attribute of the current span.
    fn int(&mut self, key: &'a str, value: i64);
    /// The current span has all its attributes.
    fn end(&mut self);
}

/// Collects the spans as [`SpanRecord`]s.
#[derive(Debug, Default)]
pub struct RecordSink<'a> {
    /// The spans so far, in the order they began.
    pub spans: Vec<SpanRecord<'a>>,
}

/// Attributes a span usually has: one allocation for the list instead of growing it four times.
const USUAL_ATTRIBUTES: usize = 16;

impl<'a> SpanSink<'a> for RecordSink<'a> {
    fn begin(&mut self, mut span: SpanRecord<'a>) {
        span.attributes.reserve(USUAL_ATTRIBUTES);
        self.spans.push(span);
    }

    fn str(&mut self, key: &'a str, value: Cow<'a, str>) {
        if let Some(span) = self.spans.last_mut() {
            span.attributes.push(Attribute::str(key, value));
        }
    }

    fn int(&mut self, key: &'a str, value: i64) {
        if let Some(span) = self.spans.last_mut() {
            span.attributes.push(Attribute::int(key, value));
        }
    }

    fn end(&mut self) {}
}
