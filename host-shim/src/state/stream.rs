//! One HTTP stream (an HTTP context) as the host sees it: header maps, bodies, what is reachable
//! now, what the filter did.
//!
//! Reachability follows Envoy's `Context::getMap` / `getConstMap`: request headers are reachable
//! from `proxy_on_request_headers` until the filter continues, response headers likewise from
//! `proxy_on_response_headers`, and in `proxy_on_log` (Envoy's access-log phase) request headers,
//! response headers and response trailers can be read but not changed. Outside those windows a read
//! sees an empty map and a write is `BAD_ARGUMENT`, as in Envoy.

use crate::abi::{Action, MapType};
use crate::headers::HeaderMap;

use super::properties::Properties;

/// A local response the filter sent with `proxy_send_local_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalResponse {
    /// HTTP status.
    pub status: u32,
    /// Envoy's response code details.
    pub details: String,
    /// Body.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: HeaderMap,
    /// gRPC status, `None` for the SDKs' "not set" (-1).
    pub grpc_status: Option<u32>,
}

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Request headers delivered (or being delivered).
    Request,
    /// Response headers delivered.
    Response,
    /// `proxy_on_log` / `proxy_on_done` / `proxy_on_delete` done: the context is gone.
    Ended,
}

/// Which of the stream's maps and buffers Envoy would have pointers to right now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Live {
    /// `request_headers_`
    pub request_headers: bool,
    /// `request_body_buffer_`
    pub request_body: bool,
    /// `request_trailers_`
    pub request_trailers: bool,
    /// `response_headers_`
    pub response_headers: bool,
    /// `response_body_buffer_`
    pub response_body: bool,
    /// `response_trailers_`
    pub response_trailers: bool,
    /// Envoy's `access_log_phase_` (inside `proxy_on_log`).
    pub access_log: bool,
}

/// An HTTP context's state.
#[derive(Clone, Debug)]
pub struct StreamState {
    /// Its context id.
    pub id: u32,
    /// Request headers (what the upstream receives once the filter is done with them).
    pub request_headers: HeaderMap,
    /// Request body received so far (the current chunk while in `proxy_on_request_body`).
    pub request_body: Vec<u8>,
    /// Request trailers, if any.
    pub request_trailers: Option<HeaderMap>,
    /// Response headers, once the upstream answered.
    pub response_headers: Option<HeaderMap>,
    /// Response body chunk.
    pub response_body: Vec<u8>,
    /// Response trailers, if any.
    pub response_trailers: Option<HeaderMap>,
    /// What is reachable now.
    pub live: Live,
    /// Where it is.
    pub phase: Phase,
    /// Properties a test set for this request, and ones the guest set (`proxy_set_property`).
    pub properties: Properties,
    /// Virtual ns when the request started (`request.time`).
    pub started_ns: u64,
    /// Virtual ns when the stream completed (`request.duration` is known from then on).
    pub completed_ns: Option<u64>,
    /// `:status` of the response, for `response.code`.
    pub response_code: Option<u32>,
    /// A local response the filter sent.
    pub local_response: Option<LocalResponse>,
    /// Actions the filter returned, by callback, in order.
    pub actions: Vec<(&'static str, Action)>,
    /// Host calls per callback of this stream, in order.
    pub host_calls: Vec<(&'static str, u32)>,
    /// `proxy_close_stream` was called.
    pub closed: bool,
    /// `proxy_on_done` returned false and `proxy_done` has not been called yet.
    pub awaiting_done: bool,
}

impl StreamState {
    /// A stream whose request headers are `headers`, started at `now_ns`.
    pub fn new(id: u32, headers: HeaderMap, now_ns: u64) -> Self {
        Self {
            id,
            request_headers: headers,
            request_body: Vec::new(),
            request_trailers: None,
            response_headers: None,
            response_body: Vec::new(),
            response_trailers: None,
            live: Live::default(),
            phase: Phase::Request,
            properties: Properties::default(),
            started_ns: now_ns,
            completed_ns: None,
            response_code: None,
            local_response: None,
            actions: Vec::new(),
            host_calls: Vec::new(),
            closed: false,
            awaiting_done: false,
        }
    }

    /// The map a read names, or `None` when Envoy would have no pointer to it now.
    pub fn readable(&self, map: MapType) -> Option<&HeaderMap> {
        let live = self.live;
        match map {
            MapType::RequestHeaders => {
                (live.access_log || live.request_headers).then_some(&self.request_headers)
            }
            MapType::RequestTrailers if !live.access_log && live.request_trailers => {
                self.request_trailers.as_ref()
            }
            MapType::ResponseHeaders if live.access_log || live.response_headers => {
                self.response_headers.as_ref()
            }
            MapType::ResponseTrailers if live.access_log || live.response_trailers => {
                self.response_trailers.as_ref()
            }
            _ => None,
        }
    }

    /// The map a write names, or `None` (`BAD_ARGUMENT`) when Envoy would have no pointer to it.
    pub fn writable(&mut self, map: MapType) -> Option<&mut HeaderMap> {
        let live = self.live;
        match map {
            MapType::RequestHeaders if live.request_headers => Some(&mut self.request_headers),
            MapType::RequestTrailers if live.request_trailers => self.request_trailers.as_mut(),
            MapType::ResponseHeaders if live.response_headers => self.response_headers.as_mut(),
            MapType::ResponseTrailers if live.response_trailers => self.response_trailers.as_mut(),
            _ => None,
        }
    }

    /// After a request-side callback: Envoy drops its pointers unless the filter paused.
    pub fn after_request_callback(&mut self, action: Action) {
        if action == Action::Continue {
            self.live.request_headers = false;
            self.live.request_body = false;
            self.live.request_trailers = false;
        }
    }

    /// After a response-side callback: likewise for the response.
    pub fn after_response_callback(&mut self, action: Action) {
        if action == Action::Continue {
            self.live.response_headers = false;
            self.live.response_body = false;
            self.live.response_trailers = false;
        }
    }

    /// Host calls made during this stream's callbacks.
    pub fn total_host_calls(&self) -> u64 {
        self.host_calls.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}
