//! [`Stream`]: one HTTP request through the filter, driven phase by phase like Envoy does.

use std::time::Duration;

use crate::abi::Action;
use crate::error::Error;
use crate::headers::HeaderMap;
use crate::host::Host;
use crate::state::callouts::Callout;
use crate::state::properties::{dotted_key, encode_i64};
use crate::state::stream::{LocalResponse, StreamState};
use crate::state::Callback;

/// A request in flight: a handle on its HTTP context, borrowing the [`Host`].
///
/// Drop the handle to do something else with the host and get it back with [`Host::stream`].
pub struct Stream<'h> {
    host: &'h mut Host,
    id: u32,
}

/// What a request looked like when it ended ([`Stream::end`]).
#[derive(Clone, Debug)]
pub struct StreamReport {
    /// Its context id.
    pub id: u32,
    /// The request headers as the upstream received them.
    pub upstream_headers: HeaderMap,
    /// The response headers as the downstream received them.
    pub response_headers: Option<HeaderMap>,
    /// A local response the filter sent, if any.
    pub local_response: Option<LocalResponse>,
    /// Actions the filter returned, by callback.
    pub actions: Vec<(&'static str, Action)>,
    /// Host calls made in each callback of this request, in order.
    pub host_calls: Vec<(&'static str, u32)>,
    /// The stream's properties at its end: those the test set and those the filter set with
    /// `proxy_set_property` (what Envoy keeps as filter state for its access log).
    pub properties: crate::state::properties::Properties,
}

impl StreamReport {
    /// A property of the stream at its end, by dotted path (the filter's `proxy_set_property`
    /// included).
    pub fn property(&self, path: &str) -> Option<&[u8]> {
        self.properties.get(&dotted_key(path))
    }

    /// Host calls this request cost in total.
    pub fn total_host_calls(&self) -> u64 {
        self.host_calls.iter().map(|(_, n)| u64::from(*n)).sum()
    }

    /// Host calls made in callbacks named `callback` (e.g. `proxy_on_request_headers`).
    pub fn host_calls_in(&self, callback: &str) -> u64 {
        self.host_calls
            .iter()
            .filter(|(c, _)| *c == callback)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }
}

/// Stand-in when a handle outlives its stream (cannot happen through this API).
static NO_HEADERS: HeaderMap = HeaderMap::new();

impl<'h> Stream<'h> {
    pub(crate) fn new(host: &'h mut Host, id: u32) -> Self {
        Self { host, id }
    }

    /// The HTTP context id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The host, e.g. to advance time or answer a callout while this request is open.
    pub fn host(&mut self) -> &mut Host {
        self.host
    }

    fn state(&self) -> Option<&StreamState> {
        self.host.vm().streams.get(&self.id)
    }

    fn state_mut(&mut self) -> Result<&mut StreamState, Error> {
        let id = self.id;
        self.host
            .vm_mut()
            .streams
            .get_mut(&id)
            .ok_or(Error::UnknownStream(id))
    }

    /// The request headers as the upstream would receive them after the filter.
    pub fn upstream_headers(&self) -> &HeaderMap {
        self.state().map_or(&NO_HEADERS, |s| &s.request_headers)
    }

    /// The response headers as the downstream would receive them, once there is a response.
    pub fn response_headers(&self) -> Option<&HeaderMap> {
        self.state().and_then(|s| s.response_headers.as_ref())
    }

    /// The last response body chunk as the downstream receives it (after the filter's edits).
    pub fn response_body_chunk(&self) -> &[u8] {
        self.state()
            .map(|s| s.response_body.as_slice())
            .unwrap_or_default()
    }

    /// The last request body chunk as the upstream receives it (after the filter's edits).
    pub fn request_body_chunk(&self) -> &[u8] {
        self.state()
            .map(|s| s.request_body.as_slice())
            .unwrap_or_default()
    }

    /// What `proxy_on_request_headers` returned (`None` if the module lacks the export).
    pub fn request_action(&self) -> Option<Action> {
        let actions = self
            .state()
            .map(|s| s.actions.as_slice())
            .unwrap_or_default();
        actions
            .iter()
            .find(|(c, _)| *c == Callback::RequestHeaders.name())
            .map(|(_, a)| *a)
    }

    /// A local response the filter sent with `proxy_send_local_response`.
    pub fn local_response(&self) -> Option<&LocalResponse> {
        self.state().and_then(|s| s.local_response.as_ref())
    }

    /// Host calls made so far in each callback of this request, in order.
    pub fn host_calls(&self) -> Vec<(&'static str, u32)> {
        self.state()
            .map(|s| s.host_calls.clone())
            .unwrap_or_default()
    }

    /// Callouts this request's context dispatched that wait for an answer.
    pub fn callouts(&self) -> Vec<Callout> {
        let id = self.id;
        self.host
            .callouts()
            .into_iter()
            .filter(|c| c.context_id == id)
            .collect()
    }

    /// A property of this request (set by the test or by the filter), by dotted path.
    pub fn property(&self, path: &str) -> Option<&[u8]> {
        self.state()?.properties.get(&dotted_key(path))
    }

    /// Sets a property for this request only (it wins over the host's), by dotted path.
    pub fn set_property(&mut self, path: &str, value: impl Into<Vec<u8>>) -> Result<(), Error> {
        let value = value.into();
        self.state_mut()?.properties.set(dotted_key(path), value);
        Ok(())
    }

    /// [`set_property`](Self::set_property) with Envoy's int64 encoding (e.g. `response.flags`).
    pub fn set_property_i64(&mut self, path: &str, value: i64) -> Result<(), Error> {
        self.set_property(path, encode_i64(value))
    }

    /// [`set_property`](Self::set_property) for a string (e.g. `upstream.address`).
    pub fn set_property_str(&mut self, path: &str, value: &str) -> Result<(), Error> {
        self.set_property(path, value.as_bytes())
    }

    /// Delivers a request body chunk: `proxy_on_request_body(len, end_of_stream)`.
    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Result<Action, Error> {
        let state = self.state_mut()?;
        state.request_body = chunk.to_vec();
        state.live.request_body = true;
        let args = (self.id, len_u32(chunk.len()), u32::from(end_of_stream));
        let func = self.host.exports().request_body.clone();
        self.run(Callback::RequestBody, func, args)
    }

    /// Delivers request trailers: `proxy_on_request_trailers(num_trailers)`.
    pub fn request_trailers(&mut self, trailers: HeaderMap) -> Result<Action, Error> {
        let count = len_u32(trailers.len());
        let state = self.state_mut()?;
        state.request_trailers = Some(trailers);
        state.live.request_trailers = true;
        let func = self.host.exports().request_trailers.clone();
        self.run(Callback::RequestTrailers, func, (self.id, count))
    }

    /// The upstream answers with `status` and `headers` and no body:
    /// `proxy_on_response_headers(num_headers, end_of_stream = true)`.
    pub fn respond<I, K, V>(&mut self, status: u16, headers: I) -> Result<Action, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.response_headers_phase(status, headers, true)
    }

    /// The upstream answers with a body: response headers (`end_of_stream` false), then the body.
    pub fn respond_with_body<I, K, V>(
        &mut self,
        status: u16,
        headers: I,
        body: &[u8],
    ) -> Result<Action, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.response_headers_phase(status, headers, false)?;
        self.response_body(body, true)
    }

    fn response_headers_phase<I, K, V>(
        &mut self,
        status: u16,
        headers: I,
        end_of_stream: bool,
    ) -> Result<Action, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut map = HeaderMap::new();
        map.add(":status", status.to_string());
        for (k, v) in headers {
            map.add(k.as_ref(), v.as_ref());
        }
        let count = len_u32(map.len());
        let state = self.state_mut()?;
        state.response_headers = Some(map);
        state.response_code = Some(u32::from(status));
        state.phase = crate::state::stream::Phase::Response;
        state.live.response_headers = true;
        let func = self.host.exports().response_headers.clone();
        self.run(
            Callback::ResponseHeaders,
            func,
            (self.id, count, u32::from(end_of_stream)),
        )
    }

    /// Delivers a response body chunk: `proxy_on_response_body(len, end_of_stream)`.
    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Result<Action, Error> {
        let state = self.state_mut()?;
        state.response_body = chunk.to_vec();
        state.live.response_body = true;
        let args = (self.id, len_u32(chunk.len()), u32::from(end_of_stream));
        let func = self.host.exports().response_body.clone();
        self.run(Callback::ResponseBody, func, args)
    }

    /// Delivers response trailers: `proxy_on_response_trailers(num_trailers)`.
    pub fn response_trailers(&mut self, trailers: HeaderMap) -> Result<Action, Error> {
        let count = len_u32(trailers.len());
        let state = self.state_mut()?;
        state.response_trailers = Some(trailers);
        state.live.response_trailers = true;
        let func = self.host.exports().response_trailers.clone();
        self.run(Callback::ResponseTrailers, func, (self.id, count))
    }

    /// Runs a header/body/trailer callback and records its action.
    fn run<P: wasmtime::WasmParams>(
        &mut self,
        callback: Callback,
        func: Option<wasmtime::TypedFunc<P, u32>>,
        args: P,
    ) -> Result<Action, Error> {
        let action = self.host.call(callback, self.id, func, args)?;
        self.host.after_callback(self.id, callback, action);
        Ok(action.map_or(Action::Continue, |a| {
            Action::try_from(a).unwrap_or(Action::Continue)
        }))
    }

    /// The stream completes, as Envoy finishes one: `proxy_on_log` (access-log phase: request and
    /// response headers readable), `proxy_on_done`, `proxy_on_delete`. Callouts the context still
    /// has in flight are cancelled. Works with or without a response (a reset stream).
    pub fn end(self) -> Result<StreamReport, Error> {
        self.end_after(Duration::ZERO)
    }

    /// [`end`](Self::end) after `elapsed` more virtual time (ticks and callouts fire meanwhile),
    /// so `request.duration` and span timings see a request that took that long.
    pub fn end_after(mut self, elapsed: Duration) -> Result<StreamReport, Error> {
        let id = self.id;
        if elapsed > Duration::ZERO {
            self.host.advance(elapsed)?;
        }
        let now = self.host.vm().now_ns;
        let state = self.state_mut()?;
        state.completed_ns = Some(now);
        state.live = crate::state::stream::Live {
            access_log: true,
            ..Default::default()
        };
        let exports = self.host.exports().clone();
        self.host.call(Callback::Log, id, exports.log, id)?;
        if let Ok(state) = self.state_mut() {
            state.live.access_log = false;
        }
        let done = self.host.call(Callback::Done, id, exports.done, id)?;
        if done == Some(0) {
            self.state_mut()?.awaiting_done = true;
        }
        self.host.call(Callback::Delete, id, exports.delete, id)?;
        let vm = self.host.vm_mut();
        vm.callouts
            .pending
            .retain(|_, p| p.callout.context_id != id);
        let state = vm.streams.remove(&id).ok_or(Error::UnknownStream(id))?;
        Ok(StreamReport {
            id,
            upstream_headers: state.request_headers,
            response_headers: state.response_headers,
            local_response: state.local_response,
            actions: state.actions,
            host_calls: state.host_calls,
            properties: state.properties,
        })
    }
}

/// A length as the ABI's `u32`.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
