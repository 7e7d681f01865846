//! The state of the fake proxy, kept in wasmtime's `Store<T>` and queried by tests.
//!
//! Nothing here knows about wasm: the ABI layer (`imports/`) turns guest pointers into
//! values and calls these methods; the public API ([`crate::Host`]) reads and drives the same state.

pub mod callouts;
pub mod calls;
pub mod foreign;
pub mod grpc;
pub mod logs;
pub mod metrics;
pub mod properties;
pub mod queues;
pub mod stream;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::abi::{BufferType, LogLevel, MapType, Status};
use crate::headers::HeaderMap;

use self::callouts::{Callouts, Delivery};
use self::calls::Accounting;
use self::foreign::ForeignFunctions;
use self::grpc::Grpc;
use self::logs::{LogEntry, Logs};
use self::metrics::Metrics;
use self::properties::{encode_i64, Properties};
use self::queues::Queues;
use self::stream::StreamState;

/// The root (plugin) context id; HTTP contexts count up from the next one.
pub const ROOT_CONTEXT_ID: u32 = 1;

/// The guest callbacks the host makes, named as the exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    /// `_initialize` (or `_start`).
    Initialize,
    /// `proxy_on_context_create`
    ContextCreate,
    /// `proxy_on_vm_start`
    VmStart,
    /// `proxy_on_configure`
    Configure,
    /// `proxy_on_tick`
    Tick,
    /// `proxy_on_request_headers`
    RequestHeaders,
    /// `proxy_on_request_body`
    RequestBody,
    /// `proxy_on_request_trailers`
    RequestTrailers,
    /// `proxy_on_response_headers`
    ResponseHeaders,
    /// `proxy_on_response_body`
    ResponseBody,
    /// `proxy_on_response_trailers`
    ResponseTrailers,
    /// `proxy_on_log`
    Log,
    /// `proxy_on_done`
    Done,
    /// `proxy_on_delete`
    Delete,
    /// `proxy_on_http_call_response`
    HttpCallResponse,
    /// `proxy_on_queue_ready`
    QueueReady,
}

impl Callback {
    /// The export's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Initialize => "_initialize",
            Self::ContextCreate => "proxy_on_context_create",
            Self::VmStart => "proxy_on_vm_start",
            Self::Configure => "proxy_on_configure",
            Self::Tick => "proxy_on_tick",
            Self::RequestHeaders => "proxy_on_request_headers",
            Self::RequestBody => "proxy_on_request_body",
            Self::RequestTrailers => "proxy_on_request_trailers",
            Self::ResponseHeaders => "proxy_on_response_headers",
            Self::ResponseBody => "proxy_on_response_body",
            Self::ResponseTrailers => "proxy_on_response_trailers",
            Self::Log => "proxy_on_log",
            Self::Done => "proxy_on_done",
            Self::Delete => "proxy_on_delete",
            Self::HttpCallResponse => "proxy_on_http_call_response",
            Self::QueueReady => "proxy_on_queue_ready",
        }
    }
}

/// The callout response being delivered (reachable only inside `proxy_on_http_call_response`).
#[derive(Clone, Debug)]
pub struct CallResponse {
    /// Headers, `:status` first; empty after a reset.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: HeaderMap,
    /// What `proxy_get_status` reports: `(code, message)`.
    pub status: (u32, String),
    /// A reset: Envoy has no response message, so maps and body are unreachable.
    pub reset: bool,
}

impl From<Delivery> for CallResponse {
    fn from(delivery: Delivery) -> Self {
        match delivery {
            Delivery::Response(r) => {
                let mut headers = HeaderMap::new();
                headers.add(":status", r.status.to_string());
                for (k, v) in r.headers.iter() {
                    headers.add(k, v);
                }
                Self {
                    headers,
                    body: r.body,
                    trailers: r.trailers,
                    status: (0, String::new()),
                    reset: false,
                }
            }
            Delivery::Reset => Self {
                headers: HeaderMap::new(),
                body: Vec::new(),
                trailers: HeaderMap::new(),
                status: (Status::BrokenConnection as u32, "reset".to_string()),
                reset: true,
            },
        }
    }
}

/// Everything the fake proxy knows.
#[derive(Debug)]
pub struct VmState {
    /// Virtual wall-clock time, ns since the Unix epoch.
    pub now_ns: u64,
    /// Virtual time when the host was created (for monotonic time and `Duration`s).
    pub start_ns: u64,
    /// Root contexts the host created and has not deleted, by id: the current one (new streams
    /// belong to it) and those told they are done that have not yet called `proxy_done`.
    pub roots: BTreeMap<u32, RootState>,
    /// The root of the plugin configuration in force: new streams are created under it.
    pub root_context: u32,
    /// Properties the test set for the whole host (listener, node).
    pub properties: Properties,
    /// Metrics the guest defined.
    pub metrics: Metrics,
    /// Log lines.
    pub logs: Logs,
    /// What `proxy_get_log_level` answers.
    pub log_level: LogLevel,
    /// Callouts in flight.
    pub callouts: Callouts,
    /// Clusters `proxy_http_call` may name.
    pub clusters: BTreeSet<String>,
    /// `proxy_get/set_shared_data`: value and CAS by key.
    pub shared_data: BTreeMap<Vec<u8>, (Vec<u8>, u32)>,
    /// Shared queues.
    pub queues: Queues,
    /// gRPC calls and streams the guest opened.
    pub grpc: Grpc,
    /// The VM configuration buffer.
    pub vm_config: Vec<u8>,
    /// The plugin configuration buffer.
    pub plugin_config: Vec<u8>,
    /// Live HTTP contexts.
    pub streams: BTreeMap<u32, StreamState>,
    /// The next context id to hand out.
    pub next_context_id: u32,
    /// The callback running now, if any.
    pub callback: Option<Callback>,
    /// The context host calls act on (`proxy_set_effective_context` changes it).
    pub effective_context: u32,
    /// The context of the callback running now, whatever the effective context: Envoy evaluates
    /// an expression against it.
    pub callback_context: u32,
    /// The callout response being delivered.
    pub call_response: Option<CallResponse>,
    /// Host-call accounting.
    pub accounting: Accounting,
    /// The foreign functions served and the CEL expressions the guest compiled.
    pub foreign: ForeignFunctions,
}

impl VmState {
    /// A fresh proxy at virtual time `start_ns`.
    pub fn new(start_ns: u64, plugin_config: Vec<u8>, vm_config: Vec<u8>) -> Self {
        Self {
            now_ns: start_ns,
            start_ns,
            roots: BTreeMap::from([(ROOT_CONTEXT_ID, RootState::default())]),
            root_context: ROOT_CONTEXT_ID,
            properties: Properties::default(),
            metrics: Metrics::default(),
            logs: Logs::default(),
            log_level: LogLevel::Info,
            callouts: Callouts::default(),
            clusters: BTreeSet::new(),
            shared_data: BTreeMap::new(),
            queues: Queues::default(),
            grpc: Grpc::default(),
            vm_config,
            plugin_config,
            streams: BTreeMap::new(),
            next_context_id: ROOT_CONTEXT_ID + 1,
            callback: None,
            effective_context: ROOT_CONTEXT_ID,
            callback_context: ROOT_CONTEXT_ID,
            call_response: None,
            accounting: Accounting::default(),
            foreign: ForeignFunctions::default(),
        }
    }

    /// Virtual time since the host started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now_ns.saturating_sub(self.start_ns))
    }

    /// The stream host calls act on, if the effective context is an HTTP context.
    pub fn effective_stream(&self) -> Option<&StreamState> {
        self.streams.get(&self.effective_context)
    }

    /// Mutable [`effective_stream`](Self::effective_stream).
    pub fn effective_stream_mut(&mut self) -> Option<&mut StreamState> {
        self.streams.get_mut(&self.effective_context)
    }

    /// True while Envoy is in an access-log phase for the effective stream.
    fn in_access_log(&self) -> bool {
        self.effective_stream().is_some_and(|s| s.live.access_log)
    }

    /// The callout response being delivered, unless it is a reset (no response message).
    fn call_response_message(&self) -> Option<&CallResponse> {
        self.call_response.as_ref().filter(|r| !r.reset)
    }

    /// A map for reading, `None` when Envoy would have no pointer to it.
    pub fn readable_map(&self, map: MapType) -> Option<&HeaderMap> {
        match map {
            MapType::HttpCallResponseHeaders => self.call_response_message().map(|r| &r.headers),
            MapType::HttpCallResponseTrailers => self.call_response_message().map(|r| &r.trailers),
            MapType::GrpcInitialMetadata | MapType::GrpcTrailingMetadata => None,
            _ => self.effective_stream().and_then(|s| s.readable(map)),
        }
    }

    /// `proxy_get_header_map_value`'s answer when the map is unreachable or the key absent.
    pub fn missing_value_status(&self, map_reachable: bool) -> Status {
        if map_reachable || self.in_access_log() {
            Status::NotFound
        } else {
            Status::BadArgument
        }
    }

    /// A map for writing, or `BAD_ARGUMENT` when Envoy would have no pointer to it.
    pub fn writable_map(&mut self, map: MapType) -> Result<&mut HeaderMap, Status> {
        self.effective_stream_mut()
            .and_then(|s| s.writable(map))
            .ok_or(Status::BadArgument)
    }

    /// A buffer for reading, or `NOT_FOUND` when it is not available now.
    pub fn readable_buffer(&self, buffer: BufferType) -> Result<&[u8], Status> {
        let stream = self.effective_stream();
        match buffer {
            BufferType::VmConfiguration => Ok(&self.vm_config),
            BufferType::PluginConfiguration if self.callback == Some(Callback::Configure) => {
                Ok(&self.plugin_config)
            }
            BufferType::HttpCallResponseBody => self
                .call_response_message()
                .map(|r| r.body.as_slice())
                .ok_or(Status::NotFound),
            BufferType::RequestBody => stream
                .filter(|s| s.live.request_body)
                .map(|s| s.request_body.as_slice())
                .ok_or(Status::NotFound),
            BufferType::ResponseBody => stream
                .filter(|s| s.live.response_body)
                .map(|s| s.response_body.as_slice())
                .ok_or(Status::NotFound),
            _ => Err(Status::NotFound),
        }
    }

    /// A body buffer for writing (only the HTTP bodies are mutable, as in Envoy).
    pub fn writable_buffer(&mut self, buffer: BufferType) -> Result<&mut Vec<u8>, Status> {
        let stream = self.effective_stream_mut();
        match buffer {
            BufferType::RequestBody => stream
                .filter(|s| s.live.request_body)
                .map(|s| &mut s.request_body)
                .ok_or(Status::NotFound),
            BufferType::ResponseBody => stream
                .filter(|s| s.live.response_body)
                .map(|s| &mut s.response_body)
                .ok_or(Status::NotFound),
            BufferType::VmConfiguration
            | BufferType::PluginConfiguration
            | BufferType::HttpCallResponseBody => Err(Status::BadArgument),
            _ => Err(Status::NotFound),
        }
    }

    /// `proxy_get_property`: the effective stream's own values, then the values Envoy derives
    /// for a request, then the host's.
    pub fn property(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.property_in(self.effective_context, key)
    }

    /// A property as context `context` sees it: its stream's own values, then the values Envoy
    /// derives for a request, then the host's.
    pub fn property_in(&self, context: u32, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(stream) = self.streams.get(&context) {
            if let Some(v) = stream.properties.get(key) {
                return Some(v.to_vec());
            }
            if let Some(v) = self.derived_stream_property(stream, key) {
                return Some(v);
            }
        }
        self.properties.get(key).map(<[u8]>::to_vec)
    }

    /// What Envoy knows about a request without a test saying so.
    fn derived_stream_property(&self, stream: &StreamState, key: &[u8]) -> Option<Vec<u8>> {
        let ns = |v: u64| encode_i64(i64::try_from(v).unwrap_or(i64::MAX));
        match key {
            b"request\0time" => Some(ns(stream.started_ns)),
            b"request\0duration" => stream.completed_ns.map(|end| ns(end - stream.started_ns)),
            b"response\0code" => stream.response_code.map(|c| encode_i64(i64::from(c))),
            b"response\0flags" => stream.response_code.map(|_| encode_i64(0)),
            b"response\0code_details" => stream.response_code.map(|_| {
                let details = stream.local_response.as_ref().map(|l| l.details.as_str());
                details
                    .filter(|d| !d.is_empty())
                    .unwrap_or("via_upstream")
                    .as_bytes()
                    .to_vec()
            }),
            _ => None,
        }
    }

    /// `proxy_call_foreign_function`: the answer for the guest, or the status Envoy returns.
    /// Expressions see the properties of the callback's context.
    pub fn call_foreign_function(
        &mut self,
        name: &[u8],
        arguments: &[u8],
    ) -> Result<Vec<u8>, Status> {
        // Taken out for the call so the evaluation can read the rest of the state.
        let mut foreign = std::mem::take(&mut self.foreign);
        let context = self.callback_context;
        let answer = foreign.call(name, arguments, &|key| self.property_in(context, key));
        self.foreign = foreign;
        answer
    }

    /// `proxy_log`.
    pub fn log(&mut self, level: LogLevel, message: &[u8]) {
        self.logs.push(LogEntry {
            level,
            message: String::from_utf8_lossy(message).into_owned(),
            context_id: self.effective_context,
        });
    }

    /// `proxy_set_tick_period_milliseconds`: Envoy re-arms the timer of the calling root (a
    /// stream's call sets its root's) from now.
    pub fn set_tick_period(&mut self, period_ms: u32) {
        let id = self.effective_root();
        let now = self.now_ns;
        if let Some(root) = self.roots.get_mut(&id) {
            root.tick_period_ms = period_ms;
            root.next_tick_ns = (period_ms > 0).then(|| now + u64::from(period_ms) * 1_000_000);
        }
    }

    /// The root context host calls act for: the effective context when it is a root, else the
    /// current root.
    pub fn effective_root(&self) -> u32 {
        if self.roots.contains_key(&self.effective_context) {
            self.effective_context
        } else {
            self.root_context
        }
    }

    /// Whether `id` is a live context: a root not yet deleted, or a stream.
    pub fn is_live(&self, id: u32) -> bool {
        self.roots.contains_key(&id) || self.streams.contains_key(&id)
    }

    /// The root whose tick is due first, and when.
    pub fn next_tick(&self) -> Option<(u32, u64)> {
        self.roots
            .iter()
            .filter_map(|(id, r)| r.next_tick_ns.map(|t| (*id, t)))
            .min_by_key(|(id, t)| (*t, *id))
    }
}

/// A root context's host-side state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootState {
    /// Tick period in ms (0: off).
    pub tick_period_ms: u32,
    /// When its next tick fires.
    pub next_tick_ns: Option<u64>,
    /// Told it is done (`proxy_on_done` answered false): Envoy keeps it, ticking and receiving
    /// callout answers, until it calls `proxy_done`.
    pub awaiting_done: bool,
    /// It called `proxy_done`: the host deletes it once the current callback returns.
    pub done_called: bool,
}
