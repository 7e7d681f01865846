//! Export: the bounded span queue and the batch / retry state machine, driven by a clock passed in.
//!
//! The plugin enqueues encoded spans from HTTP contexts, calls [`Exporter::poll`] from the root
//! context's `on_tick` and dispatches the returned [`ExportRequest`]s with `dispatch_http_call`, and
//! hands each callout's answer to [`Exporter::on_response`]. Nothing here waits or does I/O, so the
//! whole policy (batch triggers, concurrency, backoff, Retry-After, accounting) is tested with a fake
//! clock.

pub mod backoff;
pub mod counters;
pub mod exporter;
pub mod log_limit;
pub mod request;
pub mod retry_after;

pub use counters::{Counters, MetricKind, METRIC_COUNT};
pub use exporter::{DropReason, Exporter};
pub use log_limit::LogLimiter;
pub use request::{ExportOutcome, ExportRequest};
