//! Spans: the facts a hop gathers, which spans it makes, and the finished span records.
//!
//! No proxy-wasm here: the plugin copies host properties into [`RequestFacts`] and [`ResponseFacts`]
//! (plain owned data), the hop layer picks ids, and [`build_spans`] turns them into [`SpanRecord`]s that
//! `otlp` encodes once. `build_spans` never looks at the sampled flag: the hop layer decides whether to
//! call it, so the planned "keep errors of unsampled requests" feature only changes that decision.

pub mod build;
pub mod envoy_flags;
pub mod facts;
mod from_headers;
pub mod plan;
pub mod record;
pub mod resource;
pub mod semconv;
pub mod sink;
pub mod stream_end;

pub use build::{build_spans, build_spans_into, LinkedContext, SpanContextIds, SpanSettings};
pub use facts::{capture_headers, status_from_header, RequestFacts, ResponseFacts};
pub use plan::{plan_spans, ListenerDirection, SpanPlan};
pub use record::{AttrValue, Attribute, SpanEvent, SpanKind, SpanLink, SpanRecord, SpanStatus};
pub use resource::{resource_from, ResourceInfo};
pub use sink::{RecordSink, SpanSink};
pub use stream_end::{ListForm, ListFormChoice, StreamEndError, StreamEndQuery};
