//! The per-VM state the root context and its HTTP contexts share.
//!
//! A proxy-wasm VM is single-threaded and callbacks never nest, so an `Rc<RefCell<_>>` is enough;
//! borrows use `try_borrow_mut` so a logic slip degrades tracing instead of trapping the VM.

use crate::facts::StreamEndReader;
use hoptrace_core::pipeline::Pipeline;
use hoptrace_core::propagation::HeaderReadPlan;
use std::cell::RefCell;
use std::rc::Rc;

/// Everything one VM keeps between callbacks.
pub struct VmState {
    /// Decides, records and exports.
    pub pipeline: Pipeline,
    /// The host clock at the last tick: a free, 100 ms-grained clock for the rate-limited sampler,
    /// so an unsampled request makes no clock host call.
    pub tick_ns: u64,
    /// Whether to look up the context headers before reading the whole request header map.
    pub read_plan: HeaderReadPlan,
    /// How a sampled request's stream-end facts are read.
    pub stream_end: StreamEndReader,
}

/// Shared handle; `None` until `on_configure` succeeds.
pub type Shared = Rc<RefCell<Option<VmState>>>;
