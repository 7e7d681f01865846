//! One HTTP stream: decide the hop from the request headers and rewrite the context upstream.

use crate::host;
use crate::pairs;
use crate::shared::Shared;
use hoptrace_core::propagation::HeaderLines;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

/// Per-request state.
pub struct HoptraceStream {
    shared: Shared,
}

impl HoptraceStream {
    /// A stream sharing its VM's state.
    pub fn new(shared: Shared) -> Self {
        HoptraceStream { shared }
    }
}

impl Context for HoptraceStream {}

impl HttpContext for HoptraceStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Ok(mut guard) = self.shared.try_borrow_mut() else {
            return Action::Continue;
        };
        let Some(state) = guard.as_mut() else {
            return Action::Continue;
        };
        state.requests = state.requests.saturating_add(1);
        let map = host::request_header_map();
        let lines = pairs::decode(&map);
        let headers = HeaderLines::new(&lines);
        let hop = state.tracer.start(&headers, state.tick_ns);
        for (name, value) in &hop.edits.set {
            host::set_request_header(name, value);
        }
        for name in &hop.edits.remove {
            host::remove_request_header(name);
        }
        Action::Continue
    }
}
