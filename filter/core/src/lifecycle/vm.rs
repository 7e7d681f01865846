//! Everything one VM keeps between callbacks, and the root context's work: configuration, ticks and
//! the export callouts.
//!
//! Exports are dispatched from the root only, so an answer never lands on a finished stream. The
//! exporter owns the callout tokens (see [`crate::export::Exporter::dispatched`]): an answer that
//! never comes is timed out there and leaves nothing behind.

use super::reads::{HostReads, Read};
use super::stream_end_reader::StreamEndReader;
use crate::config::{parse_config, ConfigError};
use crate::export::{ExportOutcome, ExportRequest, MetricValues};
use crate::pipeline::Pipeline;
use crate::propagation::HeaderReadPlan;

/// Largest callout answer body read (an `ExportTraceServiceResponse` is tiny).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Istio's node metadata keys that feed the resource, read once per VM at configure time.
const NODE_METADATA_KEYS: [&str; 5] = ["WORKLOAD_NAME", "NAME", "NAMESPACE", "CLUSTER_ID", "OWNER"];

/// One VM's tracing state (one per Envoy worker, plus the main thread).
pub struct Vm {
    /// Decides, records and exports.
    pub(super) pipeline: Pipeline,
    /// The host clock at the last tick: a free, coarse clock for the rate-limited sampler, so an
    /// unsampled request makes no clock host call.
    pub(super) tick_ns: u64,
    /// Whether to look up the context headers before reading the whole request header map.
    pub(super) read_plan: HeaderReadPlan,
    /// How a sampled request's stream-end facts are read.
    pub(super) stream_end: StreamEndReader,
    /// Log lines for the host, written at the next tick (or after configure).
    pub(super) logs: Vec<String>,
}

/// What a tick asks the host to do.
pub struct TickWork {
    /// Export callouts to dispatch now; report each with [`Vm::dispatched`].
    pub exports: Vec<ExportRequest>,
    /// Current metric values (name, kind, value), in the same order every tick.
    pub metrics: MetricValues,
    /// Log lines to write, oldest first.
    pub logs: Vec<String>,
}

impl Vm {
    /// Read and validate the plugin configuration and set the VM up: Istio's node metadata for the
    /// resource, the stream-end CEL lists compiled, the clock, and `seed` for ids and jitter. A bad
    /// configuration is refused with the field named.
    pub fn configure(host: &mut impl HostReads, seed: [u8; 32]) -> Result<Vm, ConfigError> {
        let raw = host.read(Read::PluginConfiguration).unwrap_or_default();
        let settings = parse_config(&raw)?;
        let node_metadata: Vec<(String, String)> = NODE_METADATA_KEYS
            .iter()
            .filter_map(|k| {
                let value = host.read(Read::Property(&["xds", "node", "metadata", k]))?;
                Some(((*k).to_string(), String::from_utf8(value).ok()?))
            })
            .collect();
        let read_plan = HeaderReadPlan::new(&settings);
        let pipeline = Pipeline::new(settings, &node_metadata, seed);
        let mut logs = Vec::new();
        let stream_end =
            StreamEndReader::compile(pipeline.needs_listener_direction(), host, &mut logs);
        Ok(Vm {
            pipeline,
            tick_ns: host.now_ns(),
            read_plan,
            stream_end,
            logs,
        })
    }

    /// The Envoy cluster export callouts go to.
    pub fn collector_cluster(&self) -> &str {
        &self.pipeline.settings().collector.cluster
    }

    /// The root's timer at `now_ns`: due exports, metrics, log lines.
    pub fn tick(&mut self, now_ns: u64) -> TickWork {
        self.tick_ns = now_ns;
        let exports = self.pipeline.poll(now_ns);
        self.logs.extend(self.pipeline.drain_logs());
        TickWork {
            exports,
            metrics: self.pipeline.metric_values(),
            logs: std::mem::take(&mut self.logs),
        }
    }

    /// Log lines waiting to be written (configure's, before the first tick).
    pub fn drain_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    /// The host's answer to dispatching export attempt `id`: the callout's token, or `None` when
    /// the host refused it (e.g. an unknown cluster), which counts as a failed attempt.
    pub fn dispatched(&mut self, id: u64, token: Option<u32>, now_ns: u64) {
        self.pipeline.dispatched(id, token, now_ns);
    }

    /// The answer to export callout `token` (`body_size` bytes of body): reads its status,
    /// `retry-after` and body, and returns the exports due now, since a freed slot is used at once
    /// (under load a full batch is usually waiting). An unknown or stale token reads nothing.
    pub fn callout_answered(
        &mut self,
        token: u32,
        body_size: usize,
        host: &mut impl HostReads,
    ) -> Vec<ExportRequest> {
        if !self.pipeline.awaits(token) {
            return Vec::new();
        }
        let status = host
            .read(Read::CallResponseHeader(":status"))
            .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u16>().ok());
        let outcome = match status {
            Some(code) => ExportOutcome::Status {
                code,
                retry_after: host
                    .read(Read::CallResponseHeader("retry-after"))
                    .and_then(|v| String::from_utf8(v).ok()),
                body: if body_size > 0 {
                    host.read(Read::CallResponseBody(body_size.min(MAX_ANSWER_BYTES)))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
            },
            None => ExportOutcome::Failed,
        };
        let now = host.now_ns();
        self.pipeline.on_callout_answer(token, outcome, now);
        self.pipeline.poll(now)
    }
}
