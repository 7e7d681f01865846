//! [`Host`]: load a proxy-wasm module and drive it like Envoy would, under a virtual clock.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::{Store, TypedFunc, WasmParams, WasmResults};

use crate::abi::{Action, LogLevel};
use crate::error::{Error, LOG_LINES_IN_ERRORS};
use crate::headers::HeaderMap;
use crate::request::Stream;
use crate::runtime::{self, describe, Exports, StoreData};
use crate::state::callouts::{Callout, CalloutResponse, Delivery, Failure};
use crate::state::calls::{CallbackRecord, HostCalls};
use crate::state::foreign::ForeignFunctions;
use crate::state::logs::LogEntry;
use crate::state::metrics::{Histogram, MetricKind};
use crate::state::properties::{dotted_key, encode_i64, segments_key};
use crate::state::stream::StreamState;
use crate::state::{CallResponse, Callback, VmState, ROOT_CONTEXT_ID};

/// Where a module comes from: a path to a `.wasm` file, or its bytes (binary or WAT text).
#[derive(Clone, Debug)]
pub enum Wasm {
    /// A file to read.
    Path(PathBuf),
    /// The module itself.
    Bytes(Vec<u8>),
}

impl From<&Path> for Wasm {
    fn from(path: &Path) -> Self {
        Self::Path(path.to_path_buf())
    }
}

impl From<PathBuf> for Wasm {
    fn from(path: PathBuf) -> Self {
        Self::Path(path)
    }
}

impl From<&PathBuf> for Wasm {
    fn from(path: &PathBuf) -> Self {
        Self::Path(path.clone())
    }
}

impl From<&str> for Wasm {
    /// A path (use `.as_bytes()` for inline WAT).
    fn from(path: &str) -> Self {
        Self::Path(PathBuf::from(path))
    }
}

impl From<&[u8]> for Wasm {
    fn from(bytes: &[u8]) -> Self {
        Self::Bytes(bytes.to_vec())
    }
}

impl From<Vec<u8>> for Wasm {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

/// How a [`Host`] starts; [`Default`] is what [`Host::load`] uses.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// The VM configuration buffer (`proxy_on_vm_start`); empty by default, as in most deployments.
    pub vm_config: Vec<u8>,
    /// Virtual wall-clock time at load. Default: 2025-01-01T00:00:00Z.
    pub start_time: SystemTime,
    /// Seed of `random_get`. Default 0: runs repeat exactly.
    pub random_seed: u64,
    /// Wasm instructions one callback may run before it is stopped as a runaway
    /// (default [`crate::limits::DEFAULT_FUEL_PER_CALLBACK`]).
    pub fuel_per_callback: u64,
    /// What `proxy_get_log_level` answers. Default `Info`, Envoy's default.
    pub log_level: LogLevel,
    /// Clusters `proxy_http_call` may name from the start (more with [`Host::add_cluster`]).
    pub clusters: Vec<String>,
    /// Whether `proxy_call_foreign_function` serves Envoy's CEL functions (`expr_create`,
    /// `expr_evaluate`, `expr_delete`). Default true, as in Envoy 1.40; false plays a host
    /// without them, where every name is `NOT_FOUND` and a filter falls back to property reads.
    pub foreign_functions: bool,
}

/// 2025-01-01T00:00:00Z in seconds since the epoch.
const DEFAULT_START_SECS: u64 = 1_735_689_600;

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            vm_config: Vec::new(),
            start_time: UNIX_EPOCH + Duration::from_secs(DEFAULT_START_SECS),
            random_seed: 0,
            fuel_per_callback: crate::limits::DEFAULT_FUEL_PER_CALLBACK,
            log_level: LogLevel::Info,
            clusters: Vec::new(),
            foreign_functions: true,
        }
    }
}

/// A loaded proxy-wasm module and the fake Envoy around it (one VM, one root context).
///
/// See the [crate docs](crate) for an example.
pub struct Host {
    store: Store<StoreData>,
    exports: Exports,
    fuel_per_callback: u64,
    /// Fuel the guest burned in callbacks since load: wasmtime charges about one unit per wasm
    /// instruction, so this counts the module's own work, free of timing noise.
    guest_fuel: u64,
    failed: Option<String>,
    configured: bool,
}

/// Saturating `Duration` → ns.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Host {
    /// Loads `wasm`, runs `proxy_on_vm_start` and `proxy_on_configure` with `plugin_config`.
    ///
    /// A configuration the plugin rejects is [`Error::ConfigureFailed`] with its log lines; use
    /// [`Host::try_load`] to keep the host and look at it instead.
    pub fn load(wasm: impl Into<Wasm>, plugin_config: &str) -> Result<Self, Error> {
        Self::load_with(wasm, plugin_config, HostOptions::default())
    }

    /// [`Host::load`] with options.
    pub fn load_with(
        wasm: impl Into<Wasm>,
        plugin_config: &str,
        options: HostOptions,
    ) -> Result<Self, Error> {
        let host = Self::try_load(wasm, plugin_config, options)?;
        if host.configured {
            Ok(host)
        } else {
            Err(Error::ConfigureFailed {
                logs: host.store.data().vm.logs.tail(LOG_LINES_IN_ERRORS),
            })
        }
    }

    /// Loads and starts the module, keeping the host even when `proxy_on_configure` returns false
    /// (see [`Host::configured`] and [`Host::logs`]).
    pub fn try_load(
        wasm: impl Into<Wasm>,
        plugin_config: &str,
        options: HostOptions,
    ) -> Result<Self, Error> {
        let bytes = match wasm.into() {
            Wasm::Bytes(bytes) => bytes,
            Wasm::Path(path) => {
                std::fs::read(&path).map_err(|source| Error::Read { path, source })?
            }
        };
        let module = runtime::compile(&bytes)?;
        let start_ns = nanos(
            options
                .start_time
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let mut vm = VmState::new(
            start_ns,
            plugin_config.as_bytes().to_vec(),
            options.vm_config,
        );
        vm.log_level = options.log_level;
        vm.clusters.extend(options.clusters);
        if !options.foreign_functions {
            vm.foreign = ForeignFunctions::disabled();
        }
        let mut store = runtime::store(vm, options.random_seed)?;
        if runtime::fuel_enabled() {
            store
                .set_fuel(options.fuel_per_callback)
                .map_err(|e| Error::Instantiate(describe(&e)))?;
        }
        let instance = runtime::instantiate(&mut store, &module)?;
        let exports = Exports::bind(&mut store, &instance)?;
        let mut host = Self {
            store,
            exports,
            fuel_per_callback: options.fuel_per_callback,
            guest_fuel: 0,
            failed: None,
            configured: false,
        };
        host.start()?;
        Ok(host)
    }

    /// Envoy's start sequence: `_initialize` (else `_start`), the root context,
    /// `proxy_on_vm_start`, `proxy_on_configure`.
    fn start(&mut self) -> Result<(), Error> {
        let root = ROOT_CONTEXT_ID;
        let init = self
            .exports
            .initialize
            .clone()
            .or_else(|| self.exports.start.clone());
        self.call(Callback::Initialize, root, init, ())?;
        self.call(
            Callback::ContextCreate,
            root,
            self.exports.context_create.clone(),
            (root, 0),
        )?;
        let vm_config_len = self.len_u32(self.store.data().vm.vm_config.len());
        let started = self.call(
            Callback::VmStart,
            root,
            self.exports.vm_start.clone(),
            (root, vm_config_len),
        )?;
        if started == Some(0) {
            return Err(Error::VmStartFailed {
                logs: self.log_tail(),
            });
        }
        let config_len = self.len_u32(self.store.data().vm.plugin_config.len());
        let configured = self.call(
            Callback::Configure,
            root,
            self.exports.configure.clone(),
            (root, config_len),
        )?;
        self.configured = configured != Some(0);
        Ok(())
    }

    /// A length as the ABI's `u32` (lengths here are far below 4 GiB).
    fn len_u32(&self, len: usize) -> u32 {
        u32::try_from(len).unwrap_or(u32::MAX)
    }

    /// The newest log lines, for an error.
    fn log_tail(&self) -> Vec<LogEntry> {
        self.store.data().vm.logs.tail(LOG_LINES_IN_ERRORS)
    }

    /// Calls a guest callback with a fresh fuel budget and host-call accounting. A missing export
    /// is `Ok(None)`, as hosts skip callbacks a module does not have. A trap fails the VM.
    pub(crate) fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        callback: Callback,
        context_id: u32,
        func: Option<TypedFunc<P, R>>,
        args: P,
    ) -> Result<Option<R>, Error> {
        if let Some(cause) = &self.failed {
            return Err(Error::VmFailed(cause.clone()));
        }
        let Some(func) = func else { return Ok(None) };
        if runtime::fuel_enabled() {
            self.store
                .set_fuel(self.fuel_per_callback)
                .map_err(|e| Error::VmFailed(describe(&e)))?;
        }
        let vm = &mut self.store.data_mut().vm;
        vm.callback = Some(callback);
        vm.effective_context = context_id;
        vm.callback_context = context_id;
        vm.accounting.begin(callback.name(), context_id);
        let result = func.call(&mut self.store, args);
        if let Ok(left) = self.store.get_fuel() {
            self.guest_fuel += self.fuel_per_callback.saturating_sub(left);
        }
        let vm = &mut self.store.data_mut().vm;
        vm.callback = None;
        vm.effective_context = ROOT_CONTEXT_ID;
        vm.callback_context = ROOT_CONTEXT_ID;
        let elapsed = vm.elapsed();
        if let Some(record) = vm.accounting.end(elapsed) {
            if let Some(stream) = vm.streams.get_mut(&context_id) {
                stream.host_calls.push((record.callback, record.host_calls));
            }
        }
        match result {
            Ok(value) => {
                self.deliver_queue_ready()?;
                self.delete_done_roots()?;
                Ok(Some(value))
            }
            Err(error) => {
                let message = describe(&error);
                self.failed = Some(format!(
                    "{} (context {context_id}): {message}",
                    callback.name()
                ));
                Err(Error::Trap {
                    callback: callback.name(),
                    context_id,
                    message,
                    logs: self.log_tail(),
                })
            }
        }
    }

    /// Envoy posts `proxy_on_queue_ready` to a queue's owner after the enqueueing callback.
    fn deliver_queue_ready(&mut self) -> Result<(), Error> {
        while let Some((owner, queue)) = self.vm_mut().queues.ready.pop_front() {
            let func = self.exports.queue_ready.clone();
            self.call(Callback::QueueReady, owner, func, (owner, queue))?;
        }
        Ok(())
    }

    /// Whether `proxy_on_configure` accepted the configuration.
    pub fn configured(&self) -> bool {
        self.configured
    }

    /// Why the VM failed, if a callback trapped (every later call is [`Error::VmFailed`]).
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    // ---- requests -------------------------------------------------------------------------

    /// Starts an HTTP request with these headers and no body (`end_of_stream` true):
    /// `proxy_on_context_create` then `proxy_on_request_headers`.
    pub fn request<I, K, V>(&mut self, headers: I) -> Result<Stream<'_>, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.start_request(HeaderMap::from_pairs(headers), true)
    }

    /// Starts an HTTP request whose body follows ([`Stream::request_body`]).
    pub fn request_streaming<I, K, V>(&mut self, headers: I) -> Result<Stream<'_>, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.start_request(HeaderMap::from_pairs(headers), false)
    }

    fn start_request(
        &mut self,
        headers: HeaderMap,
        end_of_stream: bool,
    ) -> Result<Stream<'_>, Error> {
        let vm = &mut self.store.data_mut().vm;
        let id = vm.next_context_id;
        let root = vm.root_context;
        vm.next_context_id += 1;
        let num_headers = u32::try_from(headers.len()).unwrap_or(u32::MAX);
        let mut stream = StreamState::new(id, headers, vm.now_ns);
        stream.live.request_headers = true;
        vm.streams.insert(id, stream);
        self.call(
            Callback::ContextCreate,
            id,
            self.exports.context_create.clone(),
            (id, root),
        )?;
        let args = (id, num_headers, u32::from(end_of_stream));
        let action = self.call(
            Callback::RequestHeaders,
            id,
            self.exports.request_headers.clone(),
            args,
        )?;
        self.after_callback(id, Callback::RequestHeaders, action);
        Ok(Stream::new(self, id))
    }

    /// Records a header/body callback's action and drops Envoy's pointers unless it paused.
    pub(crate) fn after_callback(&mut self, id: u32, callback: Callback, action: Option<u32>) {
        // A missing export continues, as Envoy does for a module without the callback.
        let action = action.map_or(Action::Continue, |a| {
            Action::try_from(a).unwrap_or(Action::Continue)
        });
        if let Some(stream) = self.store.data_mut().vm.streams.get_mut(&id) {
            stream.actions.push((callback.name(), action));
            match callback {
                Callback::RequestHeaders | Callback::RequestBody | Callback::RequestTrailers => {
                    stream.after_request_callback(action)
                }
                _ => stream.after_response_callback(action),
            }
        }
    }

    /// A handle on a live request started earlier (to interleave several).
    pub fn stream(&mut self, id: u32) -> Result<Stream<'_>, Error> {
        if self.store.data().vm.streams.contains_key(&id) {
            Ok(Stream::new(self, id))
        } else {
            Err(Error::UnknownStream(id))
        }
    }

    pub(crate) fn exports(&self) -> &Exports {
        &self.exports
    }

    pub(crate) fn vm(&self) -> &VmState {
        &self.store.data().vm
    }

    pub(crate) fn vm_mut(&mut self) -> &mut VmState {
        &mut self.store.data_mut().vm
    }

    // ---- time -----------------------------------------------------------------------------

    /// Moves virtual time forward by `by`, firing on the way, in time order: `proxy_on_tick` for
    /// each elapsed tick period, delayed callout answers, and callout timeouts (as local `504`s).
    pub fn advance(&mut self, by: Duration) -> Result<(), Error> {
        let target = self.vm().now_ns.saturating_add(nanos(by));
        loop {
            let vm = self.vm();
            let next_callout = vm.callouts.next_event_ns().filter(|t| *t <= target);
            let next_root_tick = vm.next_tick().filter(|(_, t)| *t <= target);
            let next_tick = next_root_tick.map(|(_, t)| t);
            match (next_callout, next_tick) {
                (Some(c), t) if t.is_none_or(|t| c <= t) => {
                    let vm = self.vm_mut();
                    vm.now_ns = vm.now_ns.max(c);
                    let now = vm.now_ns;
                    if let Some((callout, delivery)) = vm.callouts.take_due(now) {
                        self.deliver(callout, delivery)?;
                    }
                }
                (_, Some(t)) => {
                    let root = next_root_tick.map_or(ROOT_CONTEXT_ID, |(id, _)| id);
                    let vm = self.vm_mut();
                    vm.now_ns = vm.now_ns.max(t);
                    if let Some(r) = vm.roots.get_mut(&root) {
                        r.next_tick_ns = Some(t + u64::from(r.tick_period_ms) * 1_000_000);
                    }
                    let tick = self.exports.tick.clone();
                    self.call(Callback::Tick, root, tick, root)?;
                }
                _ => break,
            }
        }
        let vm = self.vm_mut();
        vm.now_ns = vm.now_ns.max(target);
        Ok(())
    }

    /// The virtual wall-clock time.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.vm().now_ns)
    }

    /// Virtual time since the host was loaded.
    pub fn elapsed(&self) -> Duration {
        self.vm().elapsed()
    }

    /// The tick period the current root set, if any.
    pub fn tick_period(&self) -> Option<Duration> {
        let vm = self.vm();
        let ms = vm
            .roots
            .get(&vm.root_context)
            .map_or(0, |r| r.tick_period_ms);
        (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
    }

    // ---- plugin configuration changes -------------------------------------------------------

    /// A new plugin configuration, as Envoy applies one (a listener update, an Istio
    /// `WasmPlugin` change): a new root context in the same VM (`proxy_on_context_create`,
    /// `proxy_on_configure`), which new requests then go to, and the old root told it is done
    /// (`proxy_on_done`). An old root that answers false stays, still ticking and receiving its
    /// callouts' answers, until it calls `proxy_done`; one that answers true is deleted at once
    /// (`proxy_on_delete`, its callouts cancelled). A refused configuration leaves the old root in
    /// force and returns false.
    pub fn reconfigure(&mut self, plugin_config: &str) -> Result<bool, Error> {
        let vm = self.vm_mut();
        let new = vm.next_context_id;
        vm.next_context_id += 1;
        vm.plugin_config = plugin_config.as_bytes().to_vec();
        vm.roots.insert(new, crate::state::RootState::default());
        self.call(
            Callback::ContextCreate,
            new,
            self.exports.context_create.clone(),
            (new, 0),
        )?;
        let len = self.len_u32(plugin_config.len());
        let configured = self.call(
            Callback::Configure,
            new,
            self.exports.configure.clone(),
            (new, len),
        )?;
        if configured == Some(0) {
            self.delete_root(new)?;
            return Ok(false);
        }
        let old = std::mem::replace(&mut self.vm_mut().root_context, new);
        let done = self.call(Callback::Done, old, self.exports.done.clone(), old)?;
        if done == Some(0) {
            if let Some(r) = self.vm_mut().roots.get_mut(&old) {
                r.awaiting_done = true;
            }
        } else {
            self.delete_root(old)?;
        }
        Ok(true)
    }

    /// Root contexts not yet deleted, by id (the current one and those awaiting `proxy_done`).
    pub fn roots(&self) -> Vec<u32> {
        self.vm().roots.keys().copied().collect()
    }

    /// Roots told they are done that have not called `proxy_done` yet.
    pub fn roots_awaiting_done(&self) -> Vec<u32> {
        let roots = &self.vm().roots;
        roots
            .iter()
            .filter(|(_, r)| r.awaiting_done)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The root new requests go to.
    pub fn root_context(&self) -> u32 {
        self.vm().root_context
    }

    /// Delete root `id` as Envoy does: its timer stops, its callouts are cancelled, then
    /// `proxy_on_delete`.
    fn delete_root(&mut self, id: u32) -> Result<(), Error> {
        let vm = self.vm_mut();
        vm.roots.remove(&id);
        vm.callouts
            .pending
            .retain(|_, p| p.callout.context_id != id);
        self.call(Callback::Delete, id, self.exports.delete.clone(), id)?;
        Ok(())
    }

    /// Roots that called `proxy_done` in the callback that just returned are deleted now.
    fn delete_done_roots(&mut self) -> Result<(), Error> {
        let done: Vec<u32> = self
            .vm()
            .roots
            .iter()
            .filter(|(_, r)| r.done_called)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.delete_root(id)?;
        }
        Ok(())
    }

    // ---- callouts -------------------------------------------------------------------------

    /// Lets `proxy_http_call` reach `cluster` (an unknown one is `BAD_ARGUMENT`, as in Envoy).
    pub fn add_cluster(&mut self, cluster: &str) {
        self.vm_mut().clusters.insert(cluster.to_string());
    }

    /// Callouts waiting for an answer, oldest first (ones answered with a delay not included).
    pub fn callouts(&self) -> Vec<Callout> {
        let pending = self.vm().callouts.pending.values();
        pending
            .filter(|p| p.scheduled.is_none())
            .map(|p| p.callout.clone())
            .collect()
    }

    /// Callouts dispatched since load, answered or not.
    pub fn callouts_dispatched(&self) -> u32 {
        self.vm().callouts.dispatched
    }

    /// Answers callout `id`: at once (`proxy_on_http_call_response` runs now) or, with
    /// [`CalloutResponse::after`], when [`advance`](Self::advance) reaches the delay (a timeout
    /// due earlier wins).
    pub fn answer(&mut self, id: u32, response: CalloutResponse) -> Result<(), Error> {
        let vm = self.vm_mut();
        let now = vm.now_ns;
        let pending = vm
            .callouts
            .pending
            .get_mut(&id)
            .ok_or(Error::UnknownCallout(id))?;
        if response.delay > Duration::ZERO {
            let at = now.saturating_add(nanos(response.delay));
            pending.scheduled = Some((at, Delivery::Response(response)));
            return Ok(());
        }
        let callout = pending.callout.clone();
        vm.callouts.pending.remove(&id);
        self.deliver(callout, Delivery::Response(response))
    }

    /// Fails callout `id` now, the way Envoy reports that failure.
    pub fn fail(&mut self, id: u32, failure: Failure) -> Result<(), Error> {
        let pending = self
            .vm_mut()
            .callouts
            .pending
            .remove(&id)
            .ok_or(Error::UnknownCallout(id))?;
        self.deliver(pending.callout, failure.into())
    }

    /// Runs `proxy_on_http_call_response` in the dispatching context (dropped if it is gone:
    /// Envoy cancels a deleted context's callouts).
    fn deliver(&mut self, callout: Callout, delivery: Delivery) -> Result<(), Error> {
        let ctx = callout.context_id;
        if !self.vm().is_live(ctx) {
            return Ok(());
        }
        let response = CallResponse::from(delivery);
        let sizes = (
            response.headers.len(),
            response.body.len(),
            response.trailers.len(),
        );
        let args = (
            ctx,
            callout.id,
            self.len_u32(sizes.0),
            self.len_u32(sizes.1),
            self.len_u32(sizes.2),
        );
        self.vm_mut().call_response = Some(response);
        let result = self.call(
            Callback::HttpCallResponse,
            ctx,
            self.exports.http_call_response.clone(),
            args,
        );
        self.vm_mut().call_response = None;
        result.map(|_| ())
    }

    // ---- properties -----------------------------------------------------------------------

    /// Sets a host-wide property by its dotted path (`xds.listener_direction`) to raw bytes.
    pub fn set_property(&mut self, path: &str, value: impl Into<Vec<u8>>) {
        self.vm_mut().properties.set(dotted_key(path), value.into());
    }

    /// Sets a property whose segments contain dots (`["xds", "node", "metadata", "a.b"]`).
    pub fn set_property_segments(&mut self, segments: &[&str], value: impl Into<Vec<u8>>) {
        self.vm_mut()
            .properties
            .set(segments_key(segments.iter().copied()), value.into());
    }

    /// Sets a string property (Envoy encodes strings as their bytes).
    pub fn set_property_str(&mut self, path: &str, value: &str) {
        self.set_property(path, value.as_bytes());
    }

    /// Sets an int64 property (Envoy encodes int64 little-endian), e.g.
    /// `xds.listener_direction` = 1 (INBOUND) or 2 (OUTBOUND).
    pub fn set_property_i64(&mut self, path: &str, value: i64) {
        self.set_property(path, encode_i64(value));
    }

    /// Removes a host-wide property.
    pub fn remove_property(&mut self, path: &str) {
        self.vm_mut().properties.remove(&dotted_key(path));
    }

    // ---- observations ---------------------------------------------------------------------

    /// A counter's or gauge's value by the name the guest defined it with.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.vm().metrics.value(name)
    }

    /// Every counter and gauge as `(name, kind, value)`, sorted by name.
    pub fn metrics(&self) -> Vec<(String, MetricKind, u64)> {
        self.vm().metrics.snapshot()
    }

    /// A histogram's recorded values.
    pub fn histogram(&self, name: &str) -> Option<&Histogram> {
        self.vm().metrics.histogram(name)
    }

    /// Log lines the guest wrote, oldest first.
    pub fn logs(&self) -> impl Iterator<Item = &LogEntry> + '_ {
        self.vm().logs.lines()
    }

    /// Log lines dropped because more than [`crate::limits::MAX_LOG_LINES`] were written.
    pub fn logs_dropped(&self) -> u64 {
        self.vm().logs.dropped()
    }

    /// Forgets the captured log lines.
    pub fn clear_logs(&mut self) {
        self.vm_mut().logs.clear();
    }

    /// Wasm instructions (wasmtime fuel) the guest ran in callbacks since load.
    pub fn guest_instructions(&self) -> u64 {
        self.guest_fuel
    }

    /// Host-call totals since load (or the last [`reset_host_calls`](Self::reset_host_calls)).
    pub fn host_calls(&self) -> &HostCalls {
        &self.vm().accounting.totals
    }

    /// Zeroes the host-call totals and the callback trace.
    pub fn reset_host_calls(&mut self) {
        let accounting = &mut self.vm_mut().accounting;
        accounting.totals.reset();
        accounting.records.clear();
    }

    /// The newest callbacks made and the host calls each made, oldest first (bounded by
    /// [`crate::limits::MAX_CALLBACK_RECORDS`]).
    pub fn callback_trace(&self) -> impl Iterator<Item = &CallbackRecord> + '_ {
        self.vm().accounting.records.iter()
    }

    /// The guest's linear memory size in bytes (grows, never shrinks).
    pub fn memory_bytes(&self) -> usize {
        self.store
            .data()
            .guest
            .memory
            .map_or(0, |m| m.data_size(&self.store))
    }

    /// gRPC calls and streams the guest opened and has not cancelled (never answered).
    pub fn grpc_calls(&self) -> Vec<crate::state::grpc::GrpcCall> {
        self.vm().grpc.open.values().cloned().collect()
    }

    /// Live HTTP contexts (requests started and not ended).
    pub fn live_streams(&self) -> usize {
        self.vm().streams.len()
    }
}
