//! One HTTP stream: the core's phases, with the host answering their reads and the request header
//! edits carried out.

use crate::host::{self, HostCalls};
use crate::root::Shared;
use hoptrace_core::lifecycle::HopStream;

/// A stream of one root context.
pub struct HoptraceStream {
    shared: Shared,
    hop: HopStream,
}

impl HoptraceStream {
    /// A stream sharing its root's VM state.
    pub fn new(shared: Shared) -> Self {
        HoptraceStream {
            shared,
            hop: HopStream::default(),
        }
    }

    /// Decide the hop and rewrite the context for the upstream.
    pub fn on_request_headers(&mut self) {
        let Ok(mut guard) = self.shared.try_borrow_mut() else {
            return;
        };
        let Some(vm) = guard.as_mut() else {
            return;
        };
        let edits = vm.request_headers(&mut self.hop, &mut HostCalls);
        for (name, value) in edits.sets() {
            host::set_request_header(name, value);
        }
        for name in &edits.remove {
            host::remove_request_header(name);
        }
    }

    /// The response headers (only a recording stream reads anything).
    pub fn on_response_headers(&mut self) {
        if !self.hop.active() {
            return;
        }
        if let Ok(mut guard) = self.shared.try_borrow_mut() {
            if let Some(vm) = guard.as_mut() {
                vm.response_headers(&mut self.hop, &mut HostCalls);
            }
        }
    }

    /// The stream's end: a recording stream's spans are finished and queued.
    pub fn on_log(self) {
        if !self.hop.active() {
            return;
        }
        if let Ok(mut guard) = self.shared.try_borrow_mut() {
            if let Some(vm) = guard.as_mut() {
                vm.stream_end(self.hop, &mut HostCalls);
            }
        }
    }
}
