//! The root context: configuration, the timer, and the export callouts the core asks for.

use crate::abi::LogLevel;
use crate::host::{self, HostCalls};
use crate::stream::HoptraceStream;
use hoptrace_core::export::ExportRequest;
use hoptrace_core::lifecycle::{HostMetrics, TickWork, Vm};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// How often the root wakes to flush metrics and send batches.
const TICK: Duration = Duration::from_millis(100);

/// The VM state a root and its streams share; `None` until `on_configure` succeeds. A proxy-wasm
/// VM is single-threaded and callbacks never nest, so an `Rc<RefCell<_>>` is enough; borrows use
/// `try_borrow_mut` so a slip degrades tracing instead of trapping the VM.
pub type Shared = Rc<RefCell<Option<Vm>>>;

/// One per plugin configuration in a VM (per Envoy worker, plus the main thread).
#[derive(Default)]
pub struct HoptraceRoot {
    shared: Shared,
    metrics: HostMetrics,
    /// The named sampling rules' counters, defined from the configuration.
    rule_metrics: HostMetrics<Rc<str>>,
    /// The collector's Envoy cluster, from the configuration.
    cluster: String,
    /// Told it is done, it has sent or counted everything and said so (`proxy_done`).
    finished: bool,
}

impl HoptraceRoot {
    /// Read and apply the plugin configuration; `false` when it is invalid (the log says why).
    pub fn on_configure(&mut self) -> bool {
        let vm = match Vm::configure(&mut HostCalls, seed()) {
            Ok(vm) => vm,
            Err(e) => {
                let line = format!("hoptrace: invalid plugin configuration: {e}");
                host::log(LogLevel::Critical, &line);
                return false;
            }
        };
        let Ok(mut shared) = self.shared.try_borrow_mut() else {
            return false;
        };
        self.cluster = vm.collector_cluster().to_owned();
        let vm = shared.insert(vm);
        for line in vm.drain_logs() {
            host::log(LogLevel::Warn, &line);
        }
        host::set_tick_period(TICK);
        true
    }

    /// Send due exports, push metrics, write the core's log lines; a drained root then tells the
    /// host it is finished.
    pub fn on_tick(&mut self) {
        let now = host::now_ns();
        if let Some(work) = self.with_vm(|vm| vm.tick(now)) {
            if self.carry_out(work, now) {
                host::done();
                self.finished = true;
            }
        }
    }

    /// The host is done with this root (`proxy_on_done`): its configuration was replaced or
    /// removed. `true` when nothing is held, so the host may delete it now; otherwise the core
    /// drains it over the next ticks and answers, and [`HoptraceRoot::on_tick`] calls
    /// `proxy_done` at the end.
    pub fn on_done(&mut self) -> bool {
        let now = host::now_ns();
        let drained = match self.with_vm(|vm| vm.done(now)) {
            Some(work) => self.carry_out(work, now),
            None => true,
        };
        self.finished = drained;
        drained
    }

    /// Whether this root has finished after being told it is done.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Dispatch, log and push what a tick asks; returns whether the root is drained.
    fn carry_out(&mut self, work: TickWork, now: u64) -> bool {
        self.dispatch(work.exports, now);
        // The core's lines already start with `hoptrace: <kind>:`.
        for line in work.logs {
            host::log(LogLevel::Warn, &line);
        }
        self.metrics.push(&mut HostCalls, &work.metrics);
        self.rule_metrics.push(&mut HostCalls, &work.rule_metrics);
        work.drained
    }

    /// The answer (or failure) of export callout `token`.
    pub fn on_http_call_response(&mut self, token: u32, body_size: usize) {
        let due = self
            .with_vm(|vm| vm.callout_answered(token, body_size, &mut HostCalls))
            .unwrap_or_default();
        if let Some(now) = due.first().map(|_| host::now_ns()) {
            self.dispatch(due, now);
        }
        // A drained root finishes now rather than at its next tick.
        if self.with_vm(|vm| vm.drained()).unwrap_or(false) {
            self.on_tick();
        }
    }

    /// A stream of this root's configuration.
    pub fn new_stream(&self) -> HoptraceStream {
        HoptraceStream::new(self.shared.clone())
    }

    /// Dispatch each export and tell the core its token (or that the host refused it).
    fn dispatch(&mut self, exports: Vec<ExportRequest>, now: u64) {
        for req in exports {
            let timeout = Duration::from_millis(req.timeout_ms);
            let token = host::dispatch(&self.cluster, &req.headers, &req.body, timeout);
            self.with_vm(|vm| vm.dispatched(req.id, token, now));
        }
    }

    fn with_vm<R>(&self, f: impl FnOnce(&mut Vm) -> R) -> Option<R> {
        let mut guard = self.shared.try_borrow_mut().ok()?;
        guard.as_mut().map(f)
    }
}

/// 32 bytes from the host's randomness (WASI `random_get`); the clock if that fails, so ids stay
/// distinct across VMs even then.
fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        host::log(
            LogLevel::Warn,
            "hoptrace: no host randomness, seeding ids from the clock",
        );
        let t = host::now_ns().to_le_bytes();
        for (s, b) in seed.iter_mut().zip(t.iter().cycle()) {
            *s = *b;
        }
    }
    seed
}
