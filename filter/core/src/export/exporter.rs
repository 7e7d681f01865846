//! The bounded queue and the batch / retry state machine.
//!
//! Life of a span: `enqueue` → queue → a batch (framed and compressed once, when it first leaves) →
//! in flight → exported, rejected, waiting for a retry, or dropped. A batch holds one of
//! `max_concurrent_exports` slots from its first attempt until it is done, including while it waits
//! for a retry: while the collector fails, new batches stay queued (within the bounds) instead of
//! piling more requests onto it, and new spans are dropped and counted once the queue is full.
//!
//! Queue bounds count every span not yet done: queued, in flight, or waiting for a retry.

use super::backoff::{jittered_ms, Jitter};
use super::counters::{metric_values, Counters, MetricValues};
use super::log_limit::LogLimiter;
use super::request::{ExportOutcome, ExportRequest};
use super::retry_after::parse_retry_after_ms;
use crate::config::{BatchSettings, CollectorSettings, Compression, Encoding, RetrySettings};
use crate::keep::KeptReason;
use crate::otlp;
use crate::span::ResourceInfo;
use std::collections::VecDeque;
use std::fmt;

/// Largest single encoded span accepted, whatever `max_queue_bytes` allows: a span this big is a
/// misconfiguration (e.g. a captured header holding a blob), not something to ship.
pub const MAX_SPAN_BYTES: usize = 256 * 1024;

/// Extra time past `collector.timeout_ms` after which an unanswered callout counts as timed out. The
/// host always answers in practice; this keeps a lost answer from holding a slot forever.
pub const WATCHDOG_GRACE_MS: u64 = 5_000;

const NS_PER_MS: u64 = 1_000_000;

/// Why a span was recorded: the head sampler chose its request, or a keep rule did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A head-sampled request (`hoptrace.spans.sampled`).
    Sampled,
    /// An unsampled request kept for this reason (`hoptrace.spans.kept.*`).
    Kept(KeptReason),
}

/// Why `enqueue` refused a span (it is counted under this reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue holds `max_queue_size` spans or the span does not fit in `max_queue_bytes`.
    QueueFull,
    /// The span alone is larger than `max_queue_bytes` or [`MAX_SPAN_BYTES`].
    TooLarge,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::QueueFull => "queue_full",
            DropReason::TooLarge => "too_large",
        })
    }
}

#[derive(Debug)]
struct Queued {
    bytes: Vec<u8>,
    enqueued_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchState {
    InFlight { since_ns: u64 },
    Waiting { due_ns: u64 },
}

#[derive(Debug)]
struct Batch {
    /// The current (or last) attempt's id.
    attempt_id: u64,
    body: Vec<u8>,
    span_count: usize,
    /// Sum of the encoded spans' sizes: what the batch counts against `max_queue_bytes`.
    span_bytes: usize,
    first_attempt_ns: u64,
    /// Failed attempts so far.
    failures: u32,
    state: BatchState,
    /// The host's callout token of the attempt in flight, once dispatched; cleared whenever the
    /// attempt ends (answered, failed, timed out), so a token never outlives its attempt.
    token: Option<u32>,
}

/// One VM's export pipeline.
#[derive(Debug)]
pub struct Exporter {
    batch: BatchSettings,
    retry: RetrySettings,
    encoding: Encoding,
    compression: Compression,
    timeout_ms: u64,
    headers: Vec<(String, String)>,
    resource: Vec<u8>,
    scope: Vec<u8>,
    queue: VecDeque<Queued>,
    queued_bytes: usize,
    batches: Vec<Batch>,
    next_id: u64,
    jitter: Jitter,
    counters: Counters,
    limiter: LogLimiter,
    logs: Vec<String>,
}

impl Exporter {
    /// An exporter framing batches around `resource_bytes` and `scope_bytes`, which must be in
    /// `collector.encoding` (see `otlp::encode_resource_for`). `jitter_seed` seeds retry jitter.
    pub fn new(
        batch: BatchSettings,
        retry: RetrySettings,
        collector: &CollectorSettings,
        resource_bytes: Vec<u8>,
        scope_bytes: Vec<u8>,
        jitter_seed: u64,
    ) -> Self {
        Exporter {
            batch,
            retry,
            encoding: collector.encoding,
            compression: collector.compression,
            timeout_ms: collector.timeout_ms,
            headers: request_headers(collector),
            resource: resource_bytes,
            scope: scope_bytes,
            queue: VecDeque::new(),
            queued_bytes: 0,
            batches: Vec::new(),
            next_id: 1,
            jitter: Jitter::new(jitter_seed),
            counters: Counters::default(),
            limiter: LogLimiter::default(),
            logs: Vec::new(),
        }
    }

    /// [`Exporter::new`] encoding `resource` and our scope in the configured encoding.
    pub fn with_resource(
        batch: BatchSettings,
        retry: RetrySettings,
        collector: &CollectorSettings,
        resource: &ResourceInfo,
        jitter_seed: u64,
    ) -> Self {
        let r = otlp::encode_resource_for(collector.encoding, resource);
        let s = otlp::encode_scope_for(collector.encoding);
        Exporter::new(batch, retry, collector, r, s, jitter_seed)
    }

    /// The encoding spans must be enqueued in (`otlp::encode_span_for`).
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Count one request seen by the hop layer (`hoptrace.requests`).
    pub fn count_request(&mut self) {
        self.counters.requests += 1;
    }

    /// Count string attribute values cut to the configured length.
    pub fn count_truncated(&mut self, values: usize) {
        self.counters.attributes_truncated += values as u64;
    }

    /// Offer one encoded span of a head-sampled request. A full queue drops the new span, never an
    /// older one.
    pub fn enqueue(&mut self, encoded_span: Vec<u8>, now_ns: u64) -> Result<(), DropReason> {
        self.offer(encoded_span, now_ns, Origin::Sampled)
    }

    /// Count `spans` kept spans that the keep budget refused, without building them.
    pub fn drop_keep_limit(&mut self, spans: usize, reason: KeptReason, now_ns: u64) {
        let count = spans as u64;
        self.count_recorded(Origin::Kept(reason), count);
        self.counters.dropped_keep_limit += count;
        self.log("keep_limit", now_ns, || {
            format!(
                "kept spans dropped: more than keep.max_per_second {} traces",
                reason.as_str()
            )
        });
    }

    fn count_recorded(&mut self, origin: Origin, n: u64) {
        match origin {
            Origin::Sampled => self.counters.spans_sampled += n,
            Origin::Kept(KeptReason::Error) => self.counters.spans_kept_error += n,
            Origin::Kept(KeptReason::Slow) => self.counters.spans_kept_slow += n,
        }
    }

    /// Offer one encoded span recorded as `origin`. A full queue drops the new span, never an
    /// older one.
    pub fn offer(
        &mut self,
        encoded_span: Vec<u8>,
        now_ns: u64,
        origin: Origin,
    ) -> Result<(), DropReason> {
        let len = encoded_span.len();
        let max_bytes = self.batch.max_queue_bytes;
        if len > max_bytes || len > MAX_SPAN_BYTES {
            self.count_recorded(origin, 1);
            self.counters.dropped_too_large += 1;
            let limit = max_bytes.min(MAX_SPAN_BYTES);
            self.log("too_large", now_ns, || {
                format!("span dropped: {len} bytes encoded, the limit is {limit}")
            });
            return Err(DropReason::TooLarge);
        }
        if self.queue_full() || self.queue_bytes() + len > max_bytes {
            self.drop_queue_full(1, now_ns, origin);
            return Err(DropReason::QueueFull);
        }
        self.count_recorded(origin, 1);
        self.queued_bytes += len;
        self.queue.push_back(Queued {
            bytes: encoded_span,
            enqueued_ns: now_ns,
        });
        Ok(())
    }

    /// Whether the queue holds `max_queue_size` spans, so that any span offered now is dropped.
    pub fn queue_full(&self) -> bool {
        self.queue_spans() >= self.batch.max_queue_size
    }

    /// Count `spans` sampled spans as dropped for a full queue without their being offered: the
    /// caller saw [`Exporter::queue_full`] and skipped building them.
    #[cold]
    #[inline(never)]
    pub fn drop_queue_full(&mut self, spans: usize, now_ns: u64, origin: Origin) {
        let count = spans as u64;
        self.count_recorded(origin, count);
        self.counters.dropped_queue_full += count;
        let (held, bytes) = (self.queue_spans(), self.queue_bytes());
        self.log("queue_full", now_ns, || {
            format!("span dropped: queue holds {held} spans, {bytes} bytes")
        });
    }

    /// Called on every tick: the callouts to dispatch now. Sends due retries, then new batches while
    /// a slot is free and a batch is due: `max_export_batch_size` spans waiting, half the byte
    /// bound used (so large spans do not fill the queue while waiting for the delay), or the oldest
    /// span waiting `schedule_delay_ms`.
    pub fn poll(&mut self, now_ns: u64) -> Vec<ExportRequest> {
        self.poll_inner(now_ns, false)
    }

    /// Like [`Exporter::poll`], but sends queued spans without waiting for the schedule delay
    /// (shutdown, `on_done`). Still within `max_concurrent_exports`.
    pub fn flush(&mut self, now_ns: u64) -> Vec<ExportRequest> {
        self.poll_inner(now_ns, true)
    }

    /// A root told it is done: send everything at once, without the schedule delay and still
    /// within `max_concurrent_exports`, until `deadline_ns`. A retry due after the deadline is not
    /// waited for, and at the deadline whatever is left (queued, in flight or waiting) is counted
    /// as dropped (`shutdown`): the root is about to be deleted, and an answer after that would
    /// never arrive.
    pub fn drain(&mut self, now_ns: u64, deadline_ns: u64) -> Vec<ExportRequest> {
        if now_ns >= deadline_ns {
            self.abandon(now_ns);
            return Vec::new();
        }
        let late =
            |b: &Batch| matches!(b.state, BatchState::Waiting { due_ns } if due_ns > deadline_ns);
        let dropped: usize = self
            .batches
            .iter()
            .filter(|b| late(b))
            .map(|b| b.span_count)
            .sum();
        if dropped > 0 {
            self.batches.retain(|b| !late(b));
            self.count_shutdown(dropped, now_ns);
        }
        self.poll_inner(now_ns, true)
    }

    /// Whether every span recorded is done with: nothing queued, in flight or waiting.
    pub fn holds_nothing(&self) -> bool {
        self.queue.is_empty() && self.batches.is_empty()
    }

    /// Count every span still held as dropped (`shutdown`) and let it go.
    fn abandon(&mut self, now_ns: u64) {
        let held = self.queue_spans();
        self.queue.clear();
        self.queued_bytes = 0;
        self.batches.clear();
        if held > 0 {
            self.count_shutdown(held, now_ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn count_shutdown(&mut self, spans: usize, now_ns: u64) {
        self.counters.dropped_shutdown += spans as u64;
        self.log("shutdown", now_ns, || {
            format!("{spans} spans dropped: not sent before the plugin's drain deadline")
        });
    }

    fn poll_inner(&mut self, now_ns: u64, force: bool) -> Vec<ExportRequest> {
        self.expire_lost_callouts(now_ns);
        let lines = self.limiter.drain_due(now_ns);
        self.logs.extend(lines);

        let mut out = Vec::new();
        for i in 0..self.batches.len() {
            let due = matches!(
                self.batches.get(i).map(|b| b.state),
                Some(BatchState::Waiting { due_ns }) if due_ns <= now_ns
            );
            if due {
                let id = self.take_id();
                if let Some(b) = self.batches.get_mut(i) {
                    b.attempt_id = id;
                    b.state = BatchState::InFlight { since_ns: now_ns };
                    b.token = None;
                    out.push(self.request_for(i));
                }
            }
        }
        while self.batches.len() < self.batch.max_concurrent_exports
            && self.batch_due(now_ns, force)
        {
            self.start_batch(now_ns);
            out.push(self.request_for(self.batches.len().saturating_sub(1)));
        }
        out.into_iter().flatten().collect()
    }

    /// Handle the answer to attempt `id`. Unknown or stale ids are ignored.
    pub fn on_response(&mut self, id: u64, outcome: ExportOutcome, now_ns: u64) {
        let Some(i) = self
            .batches
            .iter()
            .position(|b| b.attempt_id == id && matches!(b.state, BatchState::InFlight { .. }))
        else {
            return;
        };
        match &outcome {
            ExportOutcome::Status { code, body, .. } if (200..300).contains(code) => {
                self.succeeded(i, body, now_ns);
            }
            o if o.is_retryable() => {
                let retry_after = match o {
                    ExportOutcome::Status {
                        retry_after: Some(v),
                        ..
                    } => parse_retry_after_ms(v, now_ns),
                    _ => None,
                };
                self.failed_retryable(i, &outcome, retry_after, now_ns);
            }
            _ => {
                let reason = outcome.describe();
                self.give_up(i, now_ns, || reason);
            }
        }
    }

    /// The host's answer to dispatching attempt `id`: the callout token its answer will carry, or
    /// `None` when the host refused the callout (counted as a failed attempt, so it is retried).
    pub fn dispatched(&mut self, id: u64, token: Option<u32>, now_ns: u64) {
        match token {
            Some(token) => {
                if let Some(b) = self.in_flight_attempt(id) {
                    b.token = Some(token);
                }
            }
            None => self.on_response(id, ExportOutcome::Failed, now_ns),
        }
    }

    /// Whether an attempt in flight waits for callout `token`'s answer.
    pub fn awaits(&self, token: u32) -> bool {
        self.attempt_awaiting(token).is_some()
    }

    /// Callout tokens of attempts in flight (each answered, failed or timed out in the end).
    pub fn tokens_in_flight(&self) -> usize {
        self.batches.iter().filter(|b| b.token.is_some()).count()
    }

    /// Handle the answer to callout `token`. Unknown or stale tokens are ignored.
    pub fn on_callout_answer(&mut self, token: u32, outcome: ExportOutcome, now_ns: u64) {
        if let Some(id) = self.attempt_awaiting(token) {
            self.on_response(id, outcome, now_ns);
        }
    }

    /// The id of the attempt in flight that waits for callout `token`'s answer.
    fn attempt_awaiting(&self, token: u32) -> Option<u64> {
        self.batches.iter().find_map(|b| {
            (b.token == Some(token) && matches!(b.state, BatchState::InFlight { .. }))
                .then_some(b.attempt_id)
        })
    }

    fn in_flight_attempt(&mut self, id: u64) -> Option<&mut Batch> {
        self.batches
            .iter_mut()
            .find(|b| b.attempt_id == id && matches!(b.state, BatchState::InFlight { .. }))
    }

    /// Log lines to emit (already rate-limited), oldest first.
    pub fn drain_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Spans not yet done: queued, in flight, or waiting for a retry (`hoptrace.queue.spans`).
    pub fn queue_spans(&self) -> usize {
        self.queue.len() + self.batches.iter().map(|b| b.span_count).sum::<usize>()
    }

    /// Encoded bytes of those spans (`hoptrace.queue.bytes`).
    pub fn queue_bytes(&self) -> usize {
        self.queued_bytes + self.batches.iter().map(|b| b.span_bytes).sum::<usize>()
    }

    /// Batches holding a slot (in flight or waiting for a retry).
    pub fn active_batches(&self) -> usize {
        self.batches.len()
    }

    /// Every metric under its published name, counters, gauges, then the attribute counter.
    pub fn metric_values(&self) -> MetricValues {
        metric_values(
            &self.counters,
            self.queue_spans() as u64,
            self.queue_bytes() as u64,
        )
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn batch_due(&self, now_ns: u64, force: bool) -> bool {
        let Some(oldest) = self.queue.front() else {
            return false;
        };
        force
            || self.queue.len() >= self.batch.max_export_batch_size
            || self.queued_bytes >= self.batch.max_queue_bytes / 2
            || now_ns.saturating_sub(oldest.enqueued_ns)
                >= self.batch.schedule_delay_ms.saturating_mul(NS_PER_MS)
    }

    /// Move up to `max_export_batch_size` queued spans into a new in-flight batch.
    fn start_batch(&mut self, now_ns: u64) {
        let n = self.batch.max_export_batch_size.min(self.queue.len());
        let spans: Vec<Queued> = self.queue.drain(..n).collect();
        let span_bytes: usize = spans.iter().map(|s| s.bytes.len()).sum();
        self.queued_bytes -= span_bytes;
        let framed = otlp::frame_for(
            self.encoding,
            &self.resource,
            &self.scope,
            spans.iter().map(|s| s.bytes.as_slice()),
        );
        let body = match self.compression {
            Compression::None => framed,
            Compression::Gzip => otlp::gzip(&framed),
        };
        let id = self.take_id();
        self.batches.push(Batch {
            attempt_id: id,
            body,
            span_count: spans.len(),
            span_bytes,
            first_attempt_ns: now_ns,
            failures: 0,
            state: BatchState::InFlight { since_ns: now_ns },
            token: None,
        });
    }

    fn request_for(&self, i: usize) -> Option<ExportRequest> {
        let b = self.batches.get(i)?;
        Some(ExportRequest {
            id: b.attempt_id,
            body: b.body.clone(),
            headers: self.headers.clone(),
            timeout_ms: self.timeout_ms,
            span_count: b.span_count,
        })
    }

    fn succeeded(&mut self, i: usize, body: &[u8], now_ns: u64) {
        if i >= self.batches.len() {
            return;
        }
        let b = self.batches.swap_remove(i);
        self.counters.exports_ok += 1;
        let partial = otlp::parse_response(self.encoding, body);
        let rejected = partial
            .as_ref()
            .map_or(0, |p| p.rejected_spans.min(b.span_count as u64));
        self.counters.dropped_rejected += rejected;
        self.counters.spans_exported += b.span_count as u64 - rejected;
        if let Some(p) = partial {
            let n = b.span_count;
            self.log("rejected", now_ns, || {
                format!(
                    "collector rejected {rejected} of {n} spans: {}",
                    p.error_message
                )
            });
        }
    }

    fn failed_retryable(
        &mut self,
        i: usize,
        outcome: &ExportOutcome,
        retry_after_ms: Option<u64>,
        now_ns: u64,
    ) {
        let retry = self.retry;
        let Some(b) = self.batches.get_mut(i) else {
            return;
        };
        b.failures = b.failures.saturating_add(1);
        let wait_ms =
            jittered_ms(&retry, b.failures, &mut self.jitter).max(retry_after_ms.unwrap_or(0));
        let due_ns = now_ns.saturating_add(wait_ms.saturating_mul(NS_PER_MS));
        let elapsed_at_retry_ms = due_ns.saturating_sub(b.first_attempt_ns) / NS_PER_MS;
        let (n, failures) = (b.span_count, b.failures);
        if elapsed_at_retry_ms > retry.max_elapsed_ms {
            let reason = outcome.describe();
            let max = retry.max_elapsed_ms;
            self.give_up(i, now_ns, || {
                format!("{reason}; no retry within max_elapsed_ms {max} after {failures} attempts")
            });
            return;
        }
        b.state = BatchState::Waiting { due_ns };
        b.token = None;
        self.counters.exports_retried += 1;
        let reason = outcome.describe();
        self.log("export_retry", now_ns, || {
            format!("export of {n} spans failed ({reason}); retry {failures} in {wait_ms} ms")
        });
    }

    fn give_up(&mut self, i: usize, now_ns: u64, reason: impl FnOnce() -> String) {
        if i >= self.batches.len() {
            return;
        }
        let b = self.batches.swap_remove(i);
        self.counters.exports_failed += 1;
        self.counters.dropped_export_failed += b.span_count as u64;
        let n = b.span_count;
        self.log("export_failed", now_ns, || {
            format!("{n} spans dropped: {}", reason())
        });
    }

    /// Treat callouts unanswered long past their timeout as timed out.
    fn expire_lost_callouts(&mut self, now_ns: u64) {
        let limit_ns = self
            .timeout_ms
            .saturating_add(WATCHDOG_GRACE_MS)
            .saturating_mul(NS_PER_MS);
        let lost: Vec<u64> = self
            .batches
            .iter()
            .filter_map(|b| match b.state {
                BatchState::InFlight { since_ns } if now_ns.saturating_sub(since_ns) > limit_ns => {
                    Some(b.attempt_id)
                }
                _ => None,
            })
            .collect();
        for id in lost {
            self.on_response(id, ExportOutcome::Timeout, now_ns);
        }
    }

    // Out of line and cold: a log line is rare, and inlined its formatting would sit between the
    // instructions every sampled request runs, spreading them over more instruction-cache lines.
    #[cold]
    #[inline(never)]
    fn log(&mut self, kind: &'static str, now_ns: u64, message: impl FnOnce() -> String) {
        if let Some(line) = self.limiter.note(kind, now_ns, message) {
            self.logs.push(line);
        }
    }
}

/// Header names the exporter sets itself; configured headers with these names are ignored.
const RESERVED_HEADERS: [&str; 5] = [
    ":method",
    ":path",
    ":authority",
    "content-type",
    "content-encoding",
];

fn request_headers(c: &CollectorSettings) -> Vec<(String, String)> {
    let mut h = vec![
        (":method".to_owned(), "POST".to_owned()),
        (":path".to_owned(), c.path.clone()),
        (":authority".to_owned(), c.authority.clone()),
        (
            "content-type".to_owned(),
            otlp::content_type(c.encoding).to_owned(),
        ),
    ];
    if c.compression == Compression::Gzip {
        h.push(("content-encoding".to_owned(), "gzip".to_owned()));
    }
    h.extend(
        c.headers
            .iter()
            .filter(|(k, _)| !RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(k)))
            .cloned(),
    );
    h
}

#[cfg(test)]
mod tests;
