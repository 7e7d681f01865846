//! The hop as a sans-IO state machine: what one VM and each of its streams do at every proxy-wasm
//! callback, with every host read asked for as a [`Read`] value and answered through [`HostReads`].
//!
//! The plugin holds a [`Vm`] per root context and a [`HopStream`] per stream, calls the phase
//! matching each callback, answers the reads with host calls and carries out what comes back
//! (header edits, export callouts, metrics, log lines). Which reads happen, in which order and
//! form, is decided here and tested here against a scripted host (`docs/ARCHITECTURE.md` walks
//! one request through it).

mod ablation;
mod contexts;
mod metrics;
mod reads;
mod stream;
mod stream_end_reader;
mod vm;

#[cfg(test)]
mod tests;

pub use contexts::{Contexts, MAX_STREAMS, STALE_ROOT_TICKS};
pub use metrics::{HostMetrics, MetricHost, MetricName};
pub use reads::{int64, HostReads, Read};
pub use stream::{HopStream, RequestActions};
pub use stream_end_reader::{explains_error, StreamEndReader, NO_CEL_WARNING};
pub use vm::{TickWork, Vm, MAX_ANSWER_BYTES};
