//! The table of live contexts a VM keeps between the host's callbacks: root contexts by id, and
//! streams by id until their last callback.
//!
//! A stream is forgotten at `proxy_on_log`, Envoy's last call that can see its facts: hoptrace does
//! not export `proxy_on_delete` (each exported callback is a trip into the VM for every stream).
//! Envoy calls `proxy_on_log` once for every stream context it created, also for local replies and
//! resets; should a stream never be logged, the table still stays bounded: past
//! [`MAX_STREAMS`] the oldest stream is forgotten and counted, for the next tick to report.
//!
//! A root whose plugin configuration is replaced is told so by `proxy_on_done`; it drains (see
//! [`super::Vm::done`]) and is removed with [`Contexts::remove_root`] once it called `proxy_done`.
//! A host that never says so still cannot leave roots behind: every root ticks while its plugin
//! lives, so a root that has missed [`STALE_ROOT_TICKS`] of the other roots' ticks is dropped.
//! Counting ticks rather than reading the clock keeps a stalled worker, whose roots all miss their
//! ticks alike, from dropping a live one.

use std::collections::BTreeMap;

pub use crate::memory::MAX_STREAMS;

/// Ticks of other roots after which a root that has not ticked itself belongs to a removed plugin
/// (five minutes of them at the root's tick period).
pub const STALE_ROOT_TICKS: u32 = 3000;

/// A root context, and how many ticks of the other roots it has missed.
struct RootSlot<R> {
    id: u32,
    root: R,
    missed_ticks: u32,
}

/// Every context of one VM that the host created and has not finished with.
pub struct Contexts<R, S> {
    roots: Vec<RootSlot<R>>,
    /// Streams by id; ids grow, so the first entry is the oldest.
    streams: BTreeMap<u32, S>,
    /// Streams forgotten because the table was full, not yet reported.
    evicted: u64,
}

impl<R, S> Default for Contexts<R, S> {
    fn default() -> Self {
        Contexts {
            roots: Vec::new(),
            streams: BTreeMap::new(),
            evicted: 0,
        }
    }
}

impl<R, S> Contexts<R, S> {
    /// A new context: a root when `root_context_id` is 0 (made by `new_root` unless the id is
    /// known), else a stream of that root (made by `new_stream` from it; ignored for an unknown
    /// root).
    pub fn create(
        &mut self,
        context_id: u32,
        root_context_id: u32,
        new_root: impl FnOnce() -> R,
        new_stream: impl FnOnce(&R) -> S,
    ) {
        if root_context_id == 0 {
            if self.root(context_id).is_none() {
                self.roots.push(RootSlot {
                    id: context_id,
                    root: new_root(),
                    missed_ticks: 0,
                });
            }
            return;
        }
        let Some(root) = self.root(root_context_id) else {
            return;
        };
        let stream = new_stream(root);
        if self.streams.len() >= MAX_STREAMS && self.streams.pop_first().is_some() {
            self.evicted += 1;
        }
        self.streams.insert(context_id, stream);
    }

    /// Root context `id`, if known.
    pub fn root(&mut self, id: u32) -> Option<&mut R> {
        self.roots
            .iter_mut()
            .find(|slot| slot.id == id)
            .map(|slot| &mut slot.root)
    }

    /// Forget root context `id`: it finished after the host said it is done.
    pub fn remove_root(&mut self, id: u32) {
        self.roots.retain(|slot| slot.id != id);
    }

    /// Stream `id`, if known.
    pub fn stream(&mut self, id: u32) -> Option<&mut S> {
        self.streams.get_mut(&id)
    }

    /// Forget stream `id` (its last callback), handing it over.
    pub fn finish_stream(&mut self, id: u32) -> Option<S> {
        self.streams.remove(&id)
    }

    /// Root `id` ticked: drop the roots whose plugin is gone, and return the log line about
    /// streams forgotten unrecorded since the last tick, if any.
    pub fn ticked(&mut self, id: u32) -> Option<String> {
        self.roots.retain_mut(|slot| {
            slot.missed_ticks = if slot.id == id {
                0
            } else {
                slot.missed_ticks.saturating_add(1)
            };
            slot.missed_ticks < STALE_ROOT_TICKS
        });
        let evicted = std::mem::take(&mut self.evicted);
        (evicted > 0).then(|| {
            format!(
                "hoptrace: {evicted} streams were never logged by the host and were forgotten unrecorded"
            )
        })
    }

    /// How many streams are live.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Contexts<&'static str, u32> {
        let mut c = Contexts::default();
        c.create(1, 0, || "root", |_| 0);
        c
    }

    #[test]
    fn streams_belong_to_a_known_root() {
        let mut c = table();
        c.create(2, 1, || unreachable!(), |root| root.len() as u32);
        c.create(3, 9, || unreachable!(), |_| 0);
        assert_eq!(c.stream(2), Some(&mut 4));
        assert!(c.stream(3).is_none(), "an unknown root makes no stream");
        assert_eq!(c.finish_stream(2), Some(4));
        assert!(c.finish_stream(2).is_none());
        c.create(1, 0, || "again", |_| 0);
        assert_eq!(c.root(1), Some(&mut "root"), "a known root id is kept");
    }

    #[test]
    fn past_the_bound_the_oldest_stream_is_forgotten_and_reported_once() {
        let mut c = table();
        for id in 0..=MAX_STREAMS as u32 {
            c.create(id + 10, 1, || unreachable!(), |_| id);
        }
        assert_eq!(c.stream_count(), MAX_STREAMS);
        assert!(c.stream(10).is_none(), "the oldest went");
        let line = c.ticked(1).unwrap();
        assert!(line.contains("1 streams were never logged"), "{line}");
        assert!(c.ticked(1).is_none());
    }

    #[test]
    fn a_root_that_stops_ticking_while_others_tick_is_dropped() {
        let mut c = table();
        c.create(5, 0, || "new plugin", |_| 0);
        for _ in 0..STALE_ROOT_TICKS - 1 {
            c.ticked(5);
        }
        assert!(c.root(1).is_some());
        c.ticked(5);
        assert!(c.root(1).is_none(), "the old plugin's root is gone");
        assert!(c.root(5).is_some());
    }

    #[test]
    fn roots_that_all_stall_alike_are_kept() {
        let mut c = table();
        c.create(5, 0, || "other", |_| 0);
        for _ in 0..STALE_ROOT_TICKS * 2 {
            c.ticked(1);
            c.ticked(5);
        }
        assert!(c.root(1).is_some() && c.root(5).is_some());
    }
}
