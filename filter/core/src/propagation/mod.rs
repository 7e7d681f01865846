//! Context propagation formats: reading and writing W3C Trace Context (`traceparent`, `tracestate`
//! and its OpenTelemetry `ot` member), W3C Baggage, B3 and Jaeger headers.
//!
//! Every parser takes the header lines as they arrived (see [`HeaderLines`]) and either returns a
//! valid value or a [`ParseError`] naming the header and the broken rule; none of them panics on any
//! input. What to do with an invalid header (start a new trace, drop `tracestate`) is the hop's call.

pub mod b3;
pub mod baggage;
pub mod context;
pub mod error;
pub mod headers;
pub mod jaeger;
mod lenient_hex;
pub mod ot;
pub mod read_plan;
pub mod traceparent;
pub mod tracestate;

pub use b3::{
    b3_multi_headers, b3_sampling, b3_single_header, extract_b3, extract_b3_multi, parse_b3_single,
    B3Single,
};
pub use baggage::{parse_baggage, Baggage, BaggageMember};
pub use context::ExtractedContext;
pub use error::ParseError;
pub use headers::HeaderLines;
pub use jaeger::{extract_jaeger, parse_uber_trace_id, uber_trace_id_header};
pub use ot::{threshold_from_hex, threshold_to_hex, OtState, OT_KEY};
pub use read_plan::HeaderReadPlan;
pub use traceparent::{parse_traceparent, TraceParent, TraceparentValue};
pub use tracestate::{parse_tracestate, TraceState};
