//! The root context: configuration, metrics, and (from `on_tick`) the export callouts.
//!
//! Exports are dispatched from the root only, so an answer never lands on a finished stream.

use crate::abi::LogLevel;
use crate::facts;
use crate::facts::StreamEndReader;
use crate::host;
use crate::metrics::HostMetrics;
use crate::shared::{Shared, VmState};
use crate::stream::HoptraceStream;
use hoptrace_core::config::parse_config;
use hoptrace_core::export::ExportOutcome;
use hoptrace_core::pipeline::Pipeline;
use hoptrace_core::propagation::HeaderReadPlan;
use std::collections::BTreeMap;
use std::time::Duration;

/// How often the root wakes to flush metrics and send batches.
const TICK: Duration = Duration::from_millis(100);
/// Largest callout answer body we read (an `ExportTraceServiceResponse` is tiny).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One per VM (per Envoy worker, plus the main thread).
#[derive(Default)]
pub struct HoptraceRoot {
    shared: Shared,
    metrics: HostMetrics,
    cluster: String,
    /// Callout token → export attempt id.
    in_flight: BTreeMap<u32, u64>,
}

impl HoptraceRoot {
    /// The answer (or failure) of export callout `token`.
    pub fn on_http_call_response(&mut self, token: u32, body_size: usize) {
        let Some(id) = self.in_flight.remove(&token) else {
            return;
        };
        let status = host::call_response_header(":status")
            .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u16>().ok());
        let outcome = match status {
            Some(code) => ExportOutcome::Status {
                code,
                retry_after: host::call_response_header("retry-after")
                    .and_then(|v| String::from_utf8(v).ok()),
                body: if body_size > 0 {
                    host::call_response_body(body_size.min(MAX_ANSWER_BYTES))
                } else {
                    Vec::new()
                },
            },
            None => ExportOutcome::Failed,
        };
        let now = host::now_ns();
        self.with_state(|s| s.pipeline.on_response(id, outcome, now));
        // A freed export slot is used at once: under load a full batch is usually waiting, and
        // waiting for the next tick would cap throughput at one batch per tick.
        self.dispatch_due(now);
    }

    /// Read and apply the plugin configuration; `false` when it is invalid (the log says why).
    pub fn on_configure(&mut self) -> bool {
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
        self.cluster = settings.collector.cluster.clone();
        let read_plan = HeaderReadPlan::new(&settings);
        let pipeline = Pipeline::new(settings, &facts::node_metadata(), seed());
        let stream_end = StreamEndReader::new(pipeline.needs_listener_direction());
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            *s = Some(VmState {
                pipeline,
                tick_ns: host::now_ns(),
                read_plan,
                stream_end,
            });
        }
        host::set_tick_period(TICK);
        true
    }

    /// Send due exports, push metrics, forward the core's log lines.
    pub fn on_tick(&mut self) {
        let now = host::now_ns();
        self.dispatch_due(now);
        let Some((metrics, logs)) = self.with_state(|s| {
            s.tick_ns = now;
            (s.pipeline.metric_values(), s.pipeline.drain_logs())
        }) else {
            return;
        };
        // The core's lines already start with `hoptrace: <kind>:`.
        for line in logs {
            host::log(LogLevel::Warn, &line);
        }
        self.metrics.push(&metrics);
    }

    /// A stream of this root's configuration.
    pub fn new_stream(&self) -> HoptraceStream {
        HoptraceStream::new(self.shared.clone())
    }

    /// Dispatch every export the pipeline says is due; a refused dispatch (e.g. unknown cluster) is
    /// reported back as a failed attempt so its spans are retried or counted.
    fn dispatch_due(&mut self, now: u64) {
        let requests = self
            .with_state(|s| s.pipeline.poll(now))
            .unwrap_or_default();
        for req in requests {
            let timeout = Duration::from_millis(req.timeout_ms);
            match host::dispatch(&self.cluster, &req.headers, &req.body, timeout) {
                Some(token) => {
                    self.in_flight.insert(token, req.id);
                }
                None => {
                    self.with_state(|s| s.pipeline.on_response(req.id, ExportOutcome::Failed, now));
                }
            }
        }
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut VmState) -> R) -> Option<R> {
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
