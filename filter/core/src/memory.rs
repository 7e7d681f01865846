//! The memory one VM may hold on behalf of requests, as numbers the configuration is checked against.
//!
//! Three things grow with traffic: the export queue (`batch.max_queue_bytes`), the bodies of export
//! requests in flight (each up to a full batch), and the table of live streams with the facts each
//! sampled stream records until it ends. The first two are bounded by the batch settings; the
//! stream table by [`MAX_STREAMS`] entries and [`RECORDING_BYTES`] of recorded facts, accounted
//! through [`RecordingBudget`]. Validation refuses batch settings whose sum with the stream table
//! exceeds [`VM_MEMORY_CEILING`], so a client that floods a proxy with slow requests, or a collector
//! that stays down, cannot grow a VM past a figure an operator can plan for.

use crate::config::BatchSettings;
use crate::export::exporter::MAX_SPAN_BYTES;
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

/// The most memory the configuration may commit per VM (per Envoy worker) to requests and spans.
pub const VM_MEMORY_CEILING: usize = 64 << 20;
/// Streams one VM keeps at most between their start and their end; past it the oldest is
/// forgotten.
pub const MAX_STREAMS: usize = 1 << 17;
/// What one entry of the stream table costs at most without a recording: its key, its handle and
/// its share of the table's nodes.
pub const STREAM_ENTRY_BYTES: usize = 32;

// The entry's per-request state must fit the figure above with room for the key and the handle.
const _: () = assert!(size_of::<crate::lifecycle::HopStream>() <= STREAM_ENTRY_BYTES / 2);
/// Recorded facts of sampled streams held at once per VM; a sampled request that would go past it
/// is not recorded and its spans are counted as dropped (`queue_full`).
pub const RECORDING_BYTES: usize = 16 << 20;
/// Framing an export request adds per span (field tag and length) on top of the span's bytes.
const SPAN_FRAMING_BYTES: usize = 8;

/// The worst case of one VM's memory under a configuration, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorstCase {
    /// Encoded spans queued, in flight or waiting to be retried (`batch.max_queue_bytes`).
    pub queue: usize,
    /// Export request bodies in flight (`max_concurrent_exports` full batches).
    pub in_flight: usize,
    /// The stream table, recordings included.
    pub stream_table: usize,
}

impl WorstCase {
    /// The sum of the parts.
    pub fn total(&self) -> usize {
        self.queue
            .saturating_add(self.in_flight)
            .saturating_add(self.stream_table)
    }
}

impl fmt::Display for WorstCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: usize| b as f64 / f64::from(1u32 << 20);
        write!(
            f,
            "{:.1} MiB (queue {:.1} MiB + in-flight export bodies {:.1} MiB + stream table {:.1} MiB)",
            mib(self.total()),
            mib(self.queue),
            mib(self.in_flight),
            mib(self.stream_table)
        )
    }
}

/// The worst case of one VM's memory under batch settings `b`.
pub fn worst_case_bytes(b: &BatchSettings) -> WorstCase {
    // A batch holds at most the queue's bytes, and at most a full batch of the largest spans.
    let batch_spans = b
        .max_export_batch_size
        .saturating_mul(MAX_SPAN_BYTES)
        .min(b.max_queue_bytes);
    let batch_body =
        batch_spans.saturating_add(b.max_export_batch_size.saturating_mul(SPAN_FRAMING_BYTES));
    WorstCase {
        queue: b.max_queue_bytes,
        in_flight: batch_body.saturating_mul(b.max_concurrent_exports),
        stream_table: MAX_STREAMS * STREAM_ENTRY_BYTES + RECORDING_BYTES,
    }
}

/// The per-VM account of recorded facts: streams take a [`RecordingPermit`] for what they hold,
/// and give it back when the permit is dropped (stream end, or a stream forgotten unlogged).
#[derive(Debug)]
pub struct RecordingBudget {
    used: Rc<Cell<usize>>,
    limit: usize,
}

impl RecordingBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        RecordingBudget {
            used: Rc::new(Cell::new(0)),
            limit,
        }
    }

    /// A permit for `bytes`, or `None` when they do not fit next to the permits alive.
    pub fn reserve(&self, bytes: usize) -> Option<RecordingPermit> {
        let used = self.used.get().checked_add(bytes)?;
        if used > self.limit {
            return None;
        }
        self.used.set(used);
        Some(RecordingPermit {
            used: Rc::clone(&self.used),
            bytes,
        })
    }

    /// Bytes held by live permits.
    pub fn used(&self) -> usize {
        self.used.get()
    }
}

impl Default for RecordingBudget {
    /// [`RECORDING_BYTES`].
    fn default() -> Self {
        RecordingBudget::new(RECORDING_BYTES)
    }
}

/// Bytes of a [`RecordingBudget`] held by one stream, returned when dropped.
#[derive(Debug)]
pub struct RecordingPermit {
    used: Rc<Cell<usize>>,
    bytes: usize,
}

impl RecordingPermit {
    /// The bytes this permit holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for RecordingPermit {
    fn drop(&mut self) {
        self.used.set(self.used.get().saturating_sub(self.bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fit_the_ceiling() {
        let w = worst_case_bytes(&BatchSettings::default());
        assert!(w.total() <= VM_MEMORY_CEILING, "{w}");
    }

    #[test]
    fn permits_come_back_when_dropped() {
        let budget = RecordingBudget::new(100);
        let a = budget.reserve(60).unwrap();
        assert!(budget.reserve(41).is_none());
        let b = budget.reserve(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        assert_eq!(b.bytes(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(budget.reserve(usize::MAX).is_none());
    }
}
