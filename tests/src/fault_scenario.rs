//! One collector fault under load, measured against a healthy collector in the same Envoy: the
//! scenario shared by the short fault tests (`tests/faults.rs`, part of `make test`) and the long
//! form (`soak`, `make soak`).
//!
//! A 1-worker Envoy gateway runs hoptrace at 100 % sampling with a small queue, so the bounds are hit
//! within seconds. Phases: warm-up load; healthy load (the baseline) and the fault, switched on in
//! the collector, under the same load — alternating in short windows (short form) or one after the
//! other (long form); a pause until `/stats` stop moving (the identity is checked there, with spans
//! still queued); then the collector recovers and marker requests are sent until one of their
//! spans arrives (the recovery time); finally the queue drains and everything is checked again. [`Row::violations`] lists every broken bound, so a test asserts it is empty and
//! the soak reports it.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::accounting::Accounting;
use crate::faulty_collector::{Fault, FaultyCollector, Tally, MARKER_PREFIX};
use crate::load::{RssSampler, Windows, Wrk};
use crate::{Envoy, EnvoyConfig, Listener, Request, Upstream};

/// `batch.schedule_delay_ms`.
pub const SCHEDULE_DELAY_MS: u64 = 200;
/// `batch.max_queue_size`: small, so a fault fills it within a fraction of a second.
pub const MAX_QUEUE_SIZE: u64 = 2048;
/// `batch.max_export_batch_size`. The root sends batches from its 100 ms tick, so one VM exports at
/// most `max_concurrent_exports × max_export_batch_size` spans per tick (20,480 spans/s here; about
/// half that when an answer takes a tick to arrive), above what the load makes (2 spans per
/// request), so a healthy collector keeps up.
pub const MAX_EXPORT_BATCH_SIZE: u64 = 1024;
/// `batch.max_concurrent_exports`.
pub const MAX_CONCURRENT_EXPORTS: u64 = 2;
/// `collector.timeout_ms`: the slow (5 s) collector becomes a timeout.
pub const TIMEOUT_MS: u64 = 1_000;
/// `retry.initial_backoff_ms`.
pub const INITIAL_BACKOFF_MS: u64 = 200;
/// `retry.max_backoff_ms`.
pub const MAX_BACKOFF_MS: u64 = 1_000;
/// `retry.max_elapsed_ms`: a batch is given up (and counted) within a short fault.
pub const MAX_ELAPSED_MS: u64 = 3_000;
/// `Retry-After` (seconds) the 503 collector sends.
pub const RETRY_AFTER_S: u64 = 1;
/// How long the slow collector takes to answer.
pub const SLOW_ANSWER: Duration = Duration::from_secs(5);
/// Up and down periods of the flapping collector.
pub const FLAP_PERIOD: Duration = Duration::from_millis(500);
/// Spans of partial-success answers reported rejected, per export request.
pub const REJECTED_PER_EXPORT: i64 = 10;
/// The filter's tick (`on_tick` period in the plugin).
pub const TICK_MS: u64 = 100;
/// Gap between two marker requests while waiting for recovery.
pub const MARKER_EVERY: Duration = Duration::from_millis(100);
/// Slack added to the recovery bound for the loopback round trips, Envoy's timers and a loaded CI
/// machine.
pub const RECOVERY_SLACK: Duration = Duration::from_millis(1_000);
/// Timer slack allowed on a retry gap (Envoy's and our clocks, the loopback).
pub const RETRY_GAP_SLACK: Duration = Duration::from_millis(20);
/// Kinds of rate-limited log lines the exporter has (`queue_full`, `too_large`, `export_retry`,
/// `export_failed`, `rejected`).
pub const LOG_KINDS: u64 = 5;
/// The exporter's log interval per kind.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The plugin configuration every fault runs with.
pub fn plugin_config() -> String {
    format!(
        r#"{{"service_name":"faults","sampler":"parentbased_traceidratio","sampler_arg":1.0,
"collector":{{"timeout_ms":{TIMEOUT_MS}}},
"batch":{{"schedule_delay_ms":{SCHEDULE_DELAY_MS},"max_queue_size":{MAX_QUEUE_SIZE},"max_export_batch_size":{MAX_EXPORT_BATCH_SIZE},"max_concurrent_exports":{MAX_CONCURRENT_EXPORTS}}},
"retry":{{"initial_backoff_ms":{INITIAL_BACKOFF_MS},"max_backoff_ms":{MAX_BACKOFF_MS},"max_elapsed_ms":{MAX_ELAPSED_MS}}}}}"#
    )
}

/// How long each phase runs and how hard. The healthy and fault phases are each cut into
/// `windows` back-to-back wrk runs (see [`Windows`]).
#[derive(Debug, Clone)]
pub struct Phases {
    /// Unmeasured load first (V8 tiers up, pools fill).
    pub warmup: Duration,
    /// The healthy baseline.
    pub healthy: Duration,
    /// The fault.
    pub fault: Duration,
    /// wrk runs per phase.
    pub windows: u32,
    /// Alternate healthy and fault windows (the short form: background noise then hits both
    /// alike) instead of running all healthy windows, then one long fault.
    pub interleave: bool,
    /// wrk connections.
    pub connections: u32,
}

impl Phases {
    /// The short form in `make test`: 1 s warm-up, then three rounds of 1 s healthy and 1 s
    /// fault, 8 connections.
    pub fn short() -> Phases {
        Phases {
            warmup: Duration::from_secs(1),
            healthy: Duration::from_secs(3),
            fault: Duration::from_secs(3),
            windows: 3,
            interleave: true,
            connections: 8,
        }
    }

    /// The long form (`make soak`): the healthy phase, then the fault without a break (memory must
    /// stay bounded however long it lasts), each cut into 10 s windows.
    pub fn long(healthy: Duration, fault: Duration) -> Phases {
        let windows = (fault.as_secs() / 10).max(1) as u32;
        Phases {
            warmup: Duration::from_secs(2),
            healthy,
            fault,
            windows,
            interleave: false,
            connections: 8,
        }
    }

    fn window(&self, phase: Duration) -> Duration {
        (phase / self.windows.max(1)).max(Duration::from_secs(1))
    }
}

/// Bounds a run must stay within.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Fault p99 ≤ `p99_factor` × healthy p99 + `p99_slack`.
    pub p99_factor: f64,
    /// See `p99_factor`.
    pub p99_slack: Duration,
    /// Fault-phase RSS peak ≤ healthy-phase RSS peak + this (KiB).
    pub rss_growth_kib: u64,
}

impl Bounds {
    /// The short form's: 2 × healthy p99 + 5 ms (a shared 2-core machine is noisy), RSS growth
    /// at most 16 MiB (the queue itself holds 2048 spans of under 1 KB each).
    pub fn short() -> Bounds {
        Bounds {
            p99_factor: 2.0,
            p99_slack: Duration::from_millis(5),
            rss_growth_kib: 16 * 1024,
        }
    }
}

/// One fault.
#[derive(Debug, Clone)]
pub struct Case {
    /// Name in the table.
    pub name: &'static str,
    /// What the collector does.
    pub fault: Fault,
    /// Counters (`exports.retried`, `spans.dropped.queue_full`, ...) that must have grown during the
    /// fault: evidence that the fault was really seen.
    pub grew: &'static [&'static str],
    /// Counters that must not have grown during the fault.
    pub unchanged: &'static [&'static str],
}

/// Every collector fault, in table order.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "down (connection refused)",
            fault: Fault::Down,
            grew: &["exports.retried", "spans.dropped.queue_full"],
            unchanged: &[],
        },
        Case {
            name: "black hole (never answers)",
            fault: Fault::BlackHole,
            grew: &["exports.retried", "spans.dropped.queue_full"],
            unchanged: &[],
        },
        Case {
            name: "slow (answers after 5 s)",
            fault: Fault::Slow(SLOW_ANSWER),
            grew: &["exports.retried", "spans.dropped.queue_full"],
            unchanged: &[],
        },
        Case {
            name: "503 + Retry-After: 1",
            fault: Fault::Status {
                code: 503,
                retry_after: Some(RETRY_AFTER_S.to_string()),
            },
            grew: &["exports.retried", "spans.dropped.queue_full"],
            unchanged: &[],
        },
        Case {
            name: "429",
            fault: Fault::status(429),
            grew: &["exports.retried", "spans.dropped.queue_full"],
            unchanged: &[],
        },
        Case {
            name: "400 (permanent)",
            fault: Fault::status(400),
            grew: &["exports.failed", "spans.dropped.export_failed"],
            unchanged: &["exports.retried"],
        },
        Case {
            name: "partial success",
            fault: Fault::PartialSuccess(REJECTED_PER_EXPORT),
            grew: &["spans.dropped.rejected"],
            unchanged: &["exports.retried", "exports.failed"],
        },
        Case {
            name: "flapping (500 ms up/down)",
            fault: Fault::Flapping(FLAP_PERIOD),
            grew: &["exports.retried", "exports.ok"],
            unchanged: &[],
        },
    ]
}

/// The case named `name` (a prefix is enough).
pub fn case(name: &str) -> Option<Case> {
    cases().into_iter().find(|c| c.name.starts_with(name))
}

/// A counter by its `/stats` name without the prefix (`exports.retried`, `spans.dropped.rejected`).
pub fn counter(a: &Accounting, name: &str) -> u64 {
    if let Some(reason) = name.strip_prefix("spans.dropped.") {
        return a.dropped(reason);
    }
    if let Some(outcome) = name.strip_prefix("exports.") {
        return a.exports.get(outcome).copied().unwrap_or(0);
    }
    match name {
        "spans.sampled" => a.sampled,
        "spans.exported" => a.exported,
        "queue.spans" => a.queued,
        "requests" => a.requests,
        _ => 0,
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Row {
    /// The case.
    pub case: Case,
    /// The phases it ran.
    pub phases: Phases,
    /// The healthy baseline load.
    pub healthy: Windows,
    /// The load during the fault.
    pub faulted: Windows,
    /// Envoy's RSS peak during the healthy phase, KiB.
    pub rss_healthy_kib: u64,
    /// Envoy's RSS peak during the fault (load and pause), KiB.
    pub rss_fault_kib: u64,
    /// Envoy's RSS peak over the whole run, KiB.
    pub rss_peak_kib: u64,
    /// `/stats` once the healthy phase settled.
    pub after_healthy: Accounting,
    /// `/stats` once the fault load stopped and the numbers stood still (spans may be queued).
    pub at_fault_end: Accounting,
    /// `/stats` once the collector recovered and the queue drained.
    pub settled: Accounting,
    /// Whether `settled` has an empty queue (false: it did not drain in time).
    pub drained: bool,
    /// From the collector's recovery to the first span of a marker request sent after it.
    pub recovery: Option<Duration>,
    /// The bound on `recovery`.
    pub recovery_bound: Duration,
    /// What the collector saw.
    pub collector: Tally,
    /// Lines the filter logged (`wasm log` lines of Envoy's log).
    pub log_lines: usize,
    /// The bound on `log_lines`.
    pub log_bound: usize,
    /// How long the collector was faulty in all (load windows and the pause after them).
    pub fault_time: Duration,
    /// Envoy workers (one VM each, plus the main thread's).
    pub workers: u32,
}

impl Row {
    /// Fault p99 over healthy p99.
    pub fn p99_ratio(&self) -> f64 {
        let healthy = self.healthy.p99().as_secs_f64();
        if healthy == 0.0 {
            return f64::NAN;
        }
        self.faulted.p99().as_secs_f64() / healthy
    }

    /// The identity at the end of the fault, written out.
    pub fn identity_text(a: &Accounting) -> String {
        let dropped: Vec<String> = a
            .dropped
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        let dropped = if dropped.is_empty() {
            "0".to_string()
        } else {
            dropped.join(" + ")
        };
        let sign = if a.balanced() { "=" } else { "≠" };
        format!(
            "{} {sign} {} + ({dropped}) + {}",
            a.sampled, a.exported, a.queued
        )
    }

    /// The markdown table header matching [`Row::table_line`].
    pub fn table_header() -> String {
        "| fault | requests (healthy / fault) | errors | p99 healthy | p99 fault | p99 ratio | RSS peak healthy → fault | dropped while healthy | identity at fault end: sampled = exported + (dropped) + queued | after recovery | retries seen (shortest gap) | recovery (bound) | log lines (bound) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|"
            .to_string()
    }

    /// One markdown table line.
    pub fn table_line(&self) -> String {
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
        let retries = match self.collector.min_retry_gap {
            Some(gap) => format!("{} ({} ms)", self.collector.retries, gap.as_millis()),
            None => "0".into(),
        };
        let recovery = match self.recovery {
            Some(r) => format!("{} ms", r.as_millis()),
            None => "none".into(),
        };
        format!(
            "| {} | {} / {} | {} | {} | {} | {:.2} | {} → {} MiB | {} | {} | {} | {} | {} (≤ {} ms) | {} (≤ {}) |",
            self.case.name,
            self.healthy.requests(),
            self.faulted.requests(),
            self.healthy.failed() + self.faulted.failed(),
            ms(self.healthy.p99()),
            ms(self.faulted.p99()),
            self.p99_ratio(),
            mib(self.rss_healthy_kib),
            mib(self.rss_fault_kib),
            self.after_healthy.dropped_total(),
            Row::identity_text(&self.at_fault_end),
            Row::identity_text(&self.settled),
            retries,
            recovery,
            self.recovery_bound.as_millis(),
            self.log_lines,
            self.log_bound,
        )
    }

    /// The p99 bound's violation, if any: the one bound that background load on a shared machine
    /// can break by chance, so callers may confirm it with a second run before failing.
    pub fn latency_violation(&self, bounds: &Bounds) -> Option<String> {
        let p99_bound = self.healthy.p99().mul_f64(bounds.p99_factor) + bounds.p99_slack;
        (self.faulted.p99() > p99_bound).then(|| {
            format!(
                "fault p99 {:?} > {} × healthy p99 {:?} + {:?} (median of {} windows each)",
                self.faulted.p99(),
                bounds.p99_factor,
                self.healthy.p99(),
                bounds.p99_slack,
                self.phases.windows
            )
        })
    }

    /// Every bound this run broke, in words; empty when it passed.
    pub fn violations(&self, bounds: &Bounds) -> Vec<String> {
        let mut v = Vec::new();
        for (phase, load) in [("healthy", &self.healthy), ("fault", &self.faulted)] {
            if load.failed() > 0 {
                v.push(format!(
                    "{phase} phase: {} non-2xx responses and {} socket errors",
                    load.non_2xx(),
                    load.socket_errors()
                ));
            }
            if load.requests() == 0 {
                v.push(format!("{phase} phase: no request completed"));
            }
        }
        v.extend(self.latency_violation(bounds));
        if self.rss_fault_kib > self.rss_healthy_kib + bounds.rss_growth_kib {
            v.push(format!(
                "RSS grew from {} KiB to {} KiB during the fault (bound +{} KiB)",
                self.rss_healthy_kib, self.rss_fault_kib, bounds.rss_growth_kib
            ));
        }
        for (when, a) in [
            ("after the healthy phase", &self.after_healthy),
            ("at the fault's end", &self.at_fault_end),
            ("after recovery", &self.settled),
        ] {
            if !a.balanced() {
                v.push(format!(
                    "identity broken {when}: {} ({a:?})",
                    Row::identity_text(a)
                ));
            }
        }
        let queue_bound = MAX_QUEUE_SIZE * u64::from(self.workers);
        if self.at_fault_end.queued > queue_bound {
            v.push(format!(
                "queue holds {} spans, above max_queue_size {queue_bound}",
                self.at_fault_end.queued
            ));
        }
        if !self.drained {
            v.push(format!(
                "queue did not drain after recovery: {:?}",
                self.settled
            ));
        }
        if self.settled.exported != self.collector.spans_accepted {
            v.push(format!(
                "filter counted {} spans exported, collector accepted {}",
                self.settled.exported, self.collector.spans_accepted
            ));
        }
        if self.settled.dropped("rejected") != self.collector.spans_rejected {
            v.push(format!(
                "filter counted {} spans rejected, collector rejected {}",
                self.settled.dropped("rejected"),
                self.collector.spans_rejected
            ));
        }
        match self.recovery {
            Some(r) if r <= self.recovery_bound => {}
            Some(r) => v.push(format!(
                "recovery took {r:?}, bound {:?}",
                self.recovery_bound
            )),
            None => v.push("no marker span arrived after recovery".into()),
        }
        for name in self.case.grew {
            if counter(&self.at_fault_end, name) <= counter(&self.after_healthy, name) {
                v.push(format!(
                    "{name} did not grow during the fault ({} → {})",
                    counter(&self.after_healthy, name),
                    counter(&self.at_fault_end, name)
                ));
            }
        }
        for name in self.case.unchanged {
            if counter(&self.at_fault_end, name) != counter(&self.after_healthy, name) {
                v.push(format!(
                    "{name} changed during the fault ({} → {})",
                    counter(&self.after_healthy, name),
                    counter(&self.at_fault_end, name)
                ));
            }
        }
        // Backoff and Retry-After honoured: a retry of a batch (the same bytes again) never comes
        // sooner than the shortest jittered backoff (half of `initial_backoff_ms`), or than
        // `Retry-After` when the collector sent one. Ticks only make it later.
        if let Some(gap) = self.collector.min_retry_gap {
            let least = match &self.case.fault {
                Fault::Status {
                    retry_after: Some(_),
                    ..
                } => Duration::from_secs(RETRY_AFTER_S),
                _ => Duration::from_millis(INITIAL_BACKOFF_MS / 2),
            };
            if gap + RETRY_GAP_SLACK < least {
                v.push(format!(
                    "a batch was retried {gap:?} after its previous attempt, sooner than {least:?}"
                ));
            }
        }
        let reaches_collector = matches!(
            self.case.fault,
            Fault::Status { .. } | Fault::BlackHole | Fault::Slow(_)
        );
        if reaches_collector
            && self.case.grew.contains(&"exports.retried")
            && self.collector.retries == 0
        {
            v.push("the collector never saw a batch retried".into());
        }
        if self.log_lines > self.log_bound {
            v.push(format!(
                "{} log lines from the filter, bound {}",
                self.log_lines, self.log_bound
            ));
        }
        v
    }
}

/// A running scenario: collector, upstream, Envoy and the RSS sampler. Keep it alive while asserting,
/// so a failing test still gets Envoy's log when it drops.
pub struct FaultRun {
    /// The collector.
    pub collector: FaultyCollector,
    /// The echo upstream.
    pub upstream: Upstream,
    /// Envoy.
    pub envoy: Envoy,
    rss: RssSampler,
}

impl FaultRun {
    /// Starts a healthy collector, an echo upstream and an Envoy gateway with hoptrace on `workers`
    /// worker threads.
    pub fn start(workers: u32) -> Result<FaultRun> {
        let collector = FaultyCollector::start()?;
        let upstream = Upstream::start("echo")?;
        let config = EnvoyConfig::new()
            .concurrency(workers)
            .collector(collector.port())
            .listener(
                Listener::gateway("gw", upstream.port())
                    .plugin(&plugin_config())
                    .route_timeout(Duration::from_secs(10)),
            );
        let envoy = Envoy::start(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
        let rss = RssSampler::start(envoy.pid(), Duration::from_millis(100));
        Ok(FaultRun {
            collector,
            upstream,
            envoy,
            rss,
        })
    }

    /// Runs every phase of `case` and measures it.
    pub fn measure(&self, case: &Case, phases: &Phases) -> Result<Row> {
        let started = Instant::now();
        let port = self.envoy.port("gw");
        let healthy_wrk = Wrk::new(phases.window(phases.healthy), phases.connections);
        let fault_wrk = Wrk::new(phases.window(phases.fault), phases.connections);
        let (mut healthy, mut faulted) = (Windows::default(), Windows::default());
        let (mut rss_healthy_kib, mut rss_fault_kib) = (0, 0);

        Wrk::new(phases.warmup, phases.connections).run(port)?;
        settle(&self.envoy, Duration::from_secs(10), true)?;
        let mut after_healthy = None;
        let (mut fault_time, mut fault_since) = (Duration::ZERO, Instant::now());
        let mut fault_on = false;
        // Interleaved: H F H F ...; otherwise H H H ... F F F.
        let order: Vec<bool> = if phases.interleave {
            (0..phases.windows).flat_map(|_| [false, true]).collect()
        } else {
            let n = phases.windows as usize;
            std::iter::repeat_n(false, n)
                .chain(std::iter::repeat_n(true, n))
                .collect()
        };
        for faulty in order {
            if faulty {
                self.collector.set(case.fault.clone())?;
                if !fault_on {
                    fault_since = Instant::now();
                    fault_on = true;
                }
                self.rss.reset_peak();
                faulted.runs.push(fault_wrk.run(port)?);
                rss_fault_kib = rss_fault_kib.max(self.rss.reset_peak());
            } else {
                if fault_on {
                    fault_time += fault_since.elapsed();
                    fault_on = false;
                }
                self.collector.set(Fault::Healthy)?;
                self.rss.reset_peak();
                healthy.runs.push(healthy_wrk.run(port)?);
                rss_healthy_kib = rss_healthy_kib.max(self.rss.reset_peak());
                if after_healthy.is_none()
                    && (phases.interleave || healthy.runs.len() == phases.windows as usize)
                {
                    after_healthy = Some(settle(&self.envoy, Duration::from_secs(10), true)?.0);
                }
            }
        }
        let after_healthy = match after_healthy {
            Some(a) => a,
            None => bail!("no healthy window ran"),
        };
        let (at_fault_end, _) = settle(&self.envoy, Duration::from_secs(10), false)?;
        rss_fault_kib = rss_fault_kib.max(self.rss.reset_peak());

        let recovered_at = Instant::now();
        self.collector.set(Fault::Healthy)?;
        fault_time += recovered_at.duration_since(fault_since);
        let recovery_bound = recovery_bound(&case.fault);
        let recovery = self.wait_for_marker(recovered_at, recovery_bound * 3)?;
        let (settled, drained) = settle(&self.envoy, Duration::from_secs(15), true)?;

        let log_lines = self
            .envoy
            .log()
            .lines()
            .filter(|l| l.contains("wasm log"))
            .count();
        let elapsed = started.elapsed();
        let per_kind = 2 + elapsed.as_secs() / LOG_INTERVAL.as_secs();
        let log_bound = (LOG_KINDS * per_kind * u64::from(self.envoy.workers())) as usize;
        Ok(Row {
            case: case.clone(),
            phases: phases.clone(),
            healthy,
            faulted,
            rss_healthy_kib,
            rss_fault_kib,
            rss_peak_kib: self.rss.peak_kib(),
            after_healthy,
            at_fault_end,
            settled,
            drained,
            recovery,
            recovery_bound,
            collector: self.collector.tally(),
            log_lines,
            log_bound,
            fault_time,
            workers: self.envoy.workers(),
        })
    }

    /// Sends a sampled marker request every [`MARKER_EVERY`] until a span of one of them arrives;
    /// the time from `since` to that arrival.
    fn wait_for_marker(&self, since: Instant, give_up: Duration) -> Result<Option<Duration>> {
        let port = self.envoy.port("gw");
        let mut sent = Vec::new();
        while since.elapsed() < give_up {
            let trace_id = format!("{MARKER_PREFIX}{:024x}", sent.len() + 1);
            let response = Request::get("/marker")
                .header("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))
                .timeout(Duration::from_secs(5))
                .send(port)?;
            if response.status != 200 {
                bail!("marker request answered {}", response.status);
            }
            sent.push(trace_id);
            if let Some((_, at)) = self.collector.first_marker(&sent) {
                return Ok(Some(at.saturating_duration_since(since)));
            }
            std::thread::sleep(MARKER_EVERY);
        }
        Ok(self
            .collector
            .first_marker(&sent)
            .map(|(_, at)| at.saturating_duration_since(since)))
    }
}

/// Longest time from the collector's recovery to the first new span: an attempt in flight may run
/// to its timeout (black hole, slow), the waiting batch's backoff (or `Retry-After`) runs out, the
/// next batch waits for the schedule delay; plus ticks and [`RECOVERY_SLACK`].
pub fn recovery_bound(fault: &Fault) -> Duration {
    let retry_after_ms = match fault {
        Fault::Status {
            retry_after: Some(_),
            ..
        } => RETRY_AFTER_S * 1000,
        _ => 0,
    };
    Duration::from_millis(
        TIMEOUT_MS + MAX_BACKOFF_MS.max(retry_after_ms) + SCHEDULE_DELAY_MS + 2 * TICK_MS,
    ) + RECOVERY_SLACK
}

/// Waits until two `/stats` readings 300 ms apart agree on the identity's numbers (and, with
/// `drained`, the queue is empty); returns the last reading and whether it got there in `timeout`.
pub fn settle(envoy: &Envoy, timeout: Duration, drained: bool) -> Result<(Accounting, bool)> {
    let deadline = Instant::now() + timeout;
    let key = |a: &Accounting| (a.sampled, a.exported, a.dropped.clone(), a.queued);
    let mut last = Accounting::read(envoy)?;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = Accounting::read(envoy)?;
        let still = key(&now) == key(&last);
        let done = still && (!drained || now.queued == 0);
        if done || Instant::now() > deadline {
            return Ok((now, done));
        }
        last = now;
    }
}
