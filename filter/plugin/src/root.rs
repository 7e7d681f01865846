//! The root context: configuration, metrics, and (from `on_tick`) the export callouts.

use crate::host;
use crate::metrics::HostMetrics;
use crate::shared::{Shared, VmState};
use crate::stream::HoptraceStream;
use hoptrace_core::config::parse_config;
use hoptrace_core::hop::Tracer;
use hoptrace_core::ids::IdGenerator;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use std::time::Duration;

/// How often the root wakes to flush metrics and send batches.
const TICK: Duration = Duration::from_millis(100);

/// One per VM (per Envoy worker, plus the main thread).
#[derive(Default)]
pub struct HoptraceRoot {
    shared: Shared,
    metrics: HostMetrics,
    /// Requests already pushed to the host counter.
    requests_total: u64,
}

impl Context for HoptraceRoot {}

impl RootContext for HoptraceRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = host::plugin_configuration();
        let settings = match parse_config(&raw) {
            Ok(s) => s,
            Err(e) => {
                host::log(
                    LogLevel::Critical,
                    &format!("hoptrace: invalid plugin configuration: {e}"),
                );
                return false;
            }
        };
        let tracer = Tracer::new(settings, IdGenerator::from_seed(seed()));
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            *s = Some(VmState {
                tracer,
                requests: 0,
                tick_ns: host::now_ns(),
            });
        }
        host::set_tick_period(TICK);
        true
    }

    fn on_tick(&mut self) {
        let Ok(mut guard) = self.shared.try_borrow_mut() else {
            return;
        };
        let Some(state) = guard.as_mut() else {
            return;
        };
        self.requests_total = self.requests_total.saturating_add(state.requests);
        state.requests = 0;
        state.tick_ns = host::now_ns();
        drop(guard);
        self.metrics
            .push(&[("hoptrace.requests", false, self.requests_total)]);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HoptraceStream::new(self.shared.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
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
