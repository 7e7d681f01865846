//! One HTTP stream: the core's phases, with the host answering their reads and the request header
//! edits carried out.

use crate::abi::HeaderMap;
use crate::host::{self, HostCalls};
use crate::root::Shared;
use hoptrace_core::expose::ACCESS_LOG_PROPERTY;
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
        let actions = vm.request_headers(&mut self.hop, &mut HostCalls);
        for (name, value) in actions.upstream.sets() {
            host::replace_header(HeaderMap::Request, name, value);
        }
        for name in &actions.upstream.remove {
            host::remove_request_header(name);
        }
        if let Some(value) = &actions.access_log {
            host::set_property(ACCESS_LOG_PROPERTY, value);
        }
    }

    /// The response headers: a recording or watched stream reads, and the hop that answers the
    /// client may show it its ids.
    pub fn on_response_headers(&mut self) {
        if !self.hop.reads_response() {
            return;
        }
        if let Ok(mut guard) = self.shared.try_borrow_mut() {
            if let Some(vm) = guard.as_mut() {
                let edits = vm.response_headers(&mut self.hop, &mut HostCalls);
                for (name, value) in &edits.add {
                    host::add_response_header(name, value);
                }
                for (name, value) in &edits.replace {
                    host::replace_header(HeaderMap::Response, name, value);
                }
            }
        }
    }

    /// The stream's end: a recording stream's spans are finished and queued, and the access-log
    /// value written again when it changed.
    pub fn on_log(self) {
        if !self.hop.active() {
            return;
        }
        if let Ok(mut guard) = self.shared.try_borrow_mut() {
            if let Some(vm) = guard.as_mut() {
                if let Some(value) = vm.stream_end(self.hop, &mut HostCalls) {
                    host::set_property(ACCESS_LOG_PROPERTY, &value);
                }
            }
        }
    }
}
