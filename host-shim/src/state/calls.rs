//! Host-call accounting: how many host calls each `proxy_on_*` callback made.
//!
//! Host calls are what a request costs in V8 (several µs each: `docs/ARCHITECTURE.md`), so
//! tests and the benchmark count them: per host function, per callback, and per callback instance.
//! Counted are the `env.proxy_*` functions and the WASI functions the shim serves itself
//! (`random_get`, `clock_time_get`, `fd_write`); allocations the host makes in the guest are not.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::limits::MAX_CALLBACK_RECORDS;

/// One callback the host made into the guest and the host calls it made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackRecord {
    /// The export called, e.g. `proxy_on_request_headers`.
    pub callback: &'static str,
    /// Its context id.
    pub context_id: u32,
    /// Host calls made during it.
    pub host_calls: u32,
    /// Virtual time since the host started.
    pub at: Duration,
}

/// Totals since the host was loaded (or last [`reset`](HostCalls::reset)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCalls {
    /// Every host call.
    pub total: u64,
    /// By host function name (`proxy_get_header_map_pairs`, `random_get`, ...).
    pub by_function: BTreeMap<&'static str, u64>,
    /// By callback: `(callbacks made, host calls made in them)`.
    pub by_callback: BTreeMap<&'static str, (u64, u64)>,
    /// Host calls made outside any callback (none in practice; kept so totals add up).
    pub outside_callbacks: u64,
    /// `proxy_call_foreign_function` calls by the function named (`expr_evaluate`, ...): which
    /// of them a guest used is what tells a CEL read from the others. Counted in `by_function`
    /// too, so these add nothing to `total`.
    pub by_foreign_function: BTreeMap<String, u64>,
}

impl HostCalls {
    /// Host calls made during callbacks named `callback`.
    pub fn in_callback(&self, callback: &str) -> u64 {
        self.by_callback
            .get(callback)
            .map_or(0, |(_, calls)| *calls)
    }

    /// Calls of the host function `function`.
    pub fn of_function(&self, function: &str) -> u64 {
        self.by_function.get(function).copied().unwrap_or(0)
    }

    /// Calls of foreign function `name` through `proxy_call_foreign_function`.
    pub fn of_foreign_function(&self, name: &str) -> u64 {
        self.by_foreign_function.get(name).copied().unwrap_or(0)
    }

    /// Zeroes everything (e.g. after warm-up in a benchmark).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// The running accounting kept in the store.
#[derive(Clone, Debug, Default)]
pub struct Accounting {
    /// Totals.
    pub totals: HostCalls,
    /// The callback running now and the host calls it has made.
    pub current: Option<(&'static str, u32, u32)>,
    /// The newest callback records.
    pub records: VecDeque<CallbackRecord>,
}

impl Accounting {
    /// Counts one call of host function `function`.
    pub fn host_call(&mut self, function: &'static str) {
        self.totals.total += 1;
        *self.totals.by_function.entry(function).or_default() += 1;
        match &mut self.current {
            Some((_, _, calls)) => *calls += 1,
            None => self.totals.outside_callbacks += 1,
        }
    }

    /// Counts one `proxy_call_foreign_function` by the function it names (already counted as a
    /// host call).
    pub fn foreign_call(&mut self, name: &[u8]) {
        let name = String::from_utf8_lossy(name).into_owned();
        *self.totals.by_foreign_function.entry(name).or_default() += 1;
    }

    /// A callback starts.
    pub fn begin(&mut self, callback: &'static str, context_id: u32) {
        self.current = Some((callback, context_id, 0));
    }

    /// The callback ends: its record, also kept in the trace.
    pub fn end(&mut self, at: Duration) -> Option<CallbackRecord> {
        let (callback, context_id, host_calls) = self.current.take()?;
        let entry = self.totals.by_callback.entry(callback).or_default();
        entry.0 += 1;
        entry.1 += u64::from(host_calls);
        let record = CallbackRecord {
            callback,
            context_id,
            host_calls,
            at,
        };
        if self.records.len() == MAX_CALLBACK_RECORDS {
            self.records.pop_front();
        }
        self.records.push_back(record.clone());
        Some(record)
    }
}
