//! A size-class allocator in front of another allocator, for the filter's many small, short-lived
//! allocations.
//!
//! A sampled request allocates a few dozen small blocks (host answers, facts, attributes, encoded
//! spans) and frees them by its end, often while a large block (the request's header map) is
//! live. In wasi-libc's dlmalloc alone, small long-lived blocks then land between large transient
//! ones and the heap fragments: a flood of slow sampled requests with large headers grows a VM's
//! memory to nearly three times what the same flood needs with small blocks kept apart
//! (`docs/ARCHITECTURE.md` has the measurement). Here each small size class keeps a free list:
//! allocating pops, freeing pushes, a few instructions each, and a request finds the blocks the
//! previous one freed. Blocks
//! are carved from chunks of the inner allocator and never handed back, so what the filter holds
//! is the peak of each class; the export queue's byte bound already caps the only large pool of
//! small blocks (encoded spans). Anything larger than [`LARGEST`] bytes, or aligned beyond 16,
//! goes straight to the inner allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::AtomicBool;
#[cfg(not(all(target_family = "wasm", not(target_feature = "atomics"))))]
use core::sync::atomic::Ordering;

/// The alignment of every small block (enough for any type up to `u128`).
const ALIGN: usize = 16;
/// The largest size served from a class.
pub const LARGEST: usize = 1024;
/// 16 classes 16 bytes apart up to 256, then 12 classes 64 bytes apart up to [`LARGEST`]: at most
/// 15 bytes wasted below 256, at most 63 (25 %, at 257) above.
const CLASSES: usize = 28;
/// What a chunk takes from the inner allocator.
const CHUNK: usize = 64 * 1024;

/// The class serving `size` bytes, `None` above [`LARGEST`].
fn class_of(size: usize) -> Option<usize> {
    if size <= 256 {
        Some(size.max(1).div_ceil(16) - 1)
    } else if size <= LARGEST {
        Some(15 + (size - 256).div_ceil(64))
    } else {
        None
    }
}

/// The block size of class `class`.
fn class_size(class: usize) -> usize {
    if class < 16 {
        (class + 1) * 16
    } else {
        256 + (class - 15) * 64
    }
}

/// The class of a block with `layout`, `None` when the inner allocator serves it.
fn small(layout: Layout) -> Option<usize> {
    if layout.align() > ALIGN {
        None
    } else {
        class_of(layout.size())
    }
}

struct State {
    /// Per class, the first free block; each free block's first word points to the next.
    free: [*mut u8; CLASSES],
    /// The unused rest of the current chunk.
    bump: *mut u8,
    bump_left: usize,
    /// Bytes taken from the inner allocator for chunks.
    chunk_bytes: usize,
}

/// The allocator: small blocks from per-class free lists, the rest from `A`.
pub struct SizeClasses<A> {
    inner: A,
    /// Unused on wasm without threads (see `with_state`).
    #[cfg_attr(
        all(target_family = "wasm", not(target_feature = "atomics")),
        allow(dead_code)
    )]
    lock: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: `state` is only touched while `lock` is held, or on wasm without threads, where there is
// no other thread (see `with_state`); the raw pointers in it point into chunks this allocator owns.
unsafe impl<A: Sync> Sync for SizeClasses<A> {}
// SAFETY: the state holds no thread-bound data, only pointers into chunks this allocator owns.
unsafe impl<A: Send> Send for SizeClasses<A> {}

impl<A> SizeClasses<A> {
    /// An allocator that takes its chunks and large blocks from `inner`.
    pub const fn new(inner: A) -> Self {
        SizeClasses {
            inner,
            lock: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                free: [ptr::null_mut(); CLASSES],
                bump: ptr::null_mut(),
                bump_left: 0,
                chunk_bytes: 0,
            }),
        }
    }

    /// Bytes taken from the inner allocator for small blocks (never handed back).
    pub fn chunk_bytes(&self) -> usize {
        self.with_state(|s| s.chunk_bytes)
    }

    /// Runs `f` with the state locked; natively the lock makes the type sound to share.
    #[cfg(not(all(target_family = "wasm", not(target_feature = "atomics"))))]
    #[inline(always)]
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference to the state.
        let result = f(unsafe { &mut *self.state.get() });
        self.lock.store(false, Ordering::Release);
        result
    }

    /// Runs `f` with the state. wasm without the atomics feature has no threads: there is one
    /// caller at a time and nothing to lock against, and every allocation is one fewer loop.
    #[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
    #[inline(always)]
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // SAFETY: single-threaded, and `f` cannot re-enter the allocator's state (it never
        // allocates from this allocator), so this is the only reference to the state.
        f(unsafe { &mut *self.state.get() })
    }
}

impl<A: GlobalAlloc> SizeClasses<A> {
    /// A block of `class`, or null when the inner allocator has no chunk to give. The free-list pop
    /// is inlined into `alloc`; carving from a chunk is the rare path and stays out of line.
    #[inline(always)]
    fn take(&self, class: usize) -> *mut u8 {
        let popped = self.with_state(|s| {
            let head = s.free.get_mut(class)?;
            if head.is_null() {
                return None;
            }
            let block = *head;
            // SAFETY: a free block is at least 16 bytes, 16-aligned, owned by this allocator, and
            // its first word was written by `give` (or is the list's end, null).
            *head = unsafe { block.cast::<*mut u8>().read() };
            Some(block)
        });
        match popped {
            Some(block) => block,
            None => self.carve(class),
        }
    }

    /// A new block of `class` from the current chunk (a new chunk when it is used up), or null when
    /// the class does not exist or the inner allocator has no chunk to give.
    #[cold]
    #[inline(never)]
    fn carve(&self, class: usize) -> *mut u8 {
        if class >= CLASSES {
            return ptr::null_mut();
        }
        let size = class_size(class);
        self.with_state(|s| {
            if s.bump_left < size {
                // SAFETY: CHUNK is non-zero and ALIGN a power of two.
                let layout = unsafe { Layout::from_size_align_unchecked(CHUNK, ALIGN) };
                // SAFETY: a non-zero-sized layout.
                let chunk = unsafe { self.inner.alloc(layout) };
                if chunk.is_null() {
                    return ptr::null_mut();
                }
                s.bump = chunk;
                s.bump_left = CHUNK;
                s.chunk_bytes += CHUNK;
            }
            let block = s.bump;
            // SAFETY: `size` ≤ `bump_left`, so the result stays inside the chunk (or one past it).
            s.bump = unsafe { s.bump.add(size) };
            s.bump_left -= size;
            block
        })
    }

    /// Puts a block of `class` back on its free list (inlined into `dealloc`).
    #[inline(always)]
    fn give(&self, block: *mut u8, class: usize) {
        self.with_state(|s| {
            if let Some(head) = s.free.get_mut(class) {
                // SAFETY: `block` came from `take(class)`: 16-aligned, at least 16 bytes, and the
                // caller no longer uses it.
                unsafe { block.cast::<*mut u8>().write(*head) };
                *head = block;
            }
        });
    }
}

// SAFETY: small blocks are carved from chunks of `inner`, each block handed out once until it is
// given back; sizes and alignments are those of the class, which cover the layout asked for.
// Everything else is `inner`'s, with the caller's layout passed through unchanged. Each entry is out
// of line: inlined at every allocation site of the module, the class choice would grow it by a tenth.
unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClasses<A> {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match small(layout) {
            Some(class) => self.take(class),
            // SAFETY: the caller's contract, passed on.
            None => unsafe { self.inner.alloc(layout) },
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match small(layout) {
            Some(class) => self.give(block, class),
            // SAFETY: `block` came from `inner` with this layout (`small` decides the same way).
            None => unsafe { self.inner.dealloc(block, layout) },
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = small(layout);
        // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = small(new_layout);
        match (old, new) {
            // The block already has room: a Vec growing within its class costs nothing.
            (Some(a), Some(b)) if a == b => block,
            // SAFETY: both sizes belong to `inner`; the caller's contract, passed on.
            (None, None) => unsafe { self.inner.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: a non-zero size (GlobalAlloc::realloc's contract).
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks hold at least the smaller size and do not overlap.
                    unsafe {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use proptest::prelude::*;
    use std::alloc::System;
    use std::sync::Arc;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 1).unwrap()
    }

    fn fill(block: *mut u8, size: usize, byte: u8) {
        // SAFETY (test): `block` holds `size` bytes.
        unsafe { ptr::write_bytes(block, byte, size) };
    }

    fn holds(block: *const u8, size: usize, byte: u8) -> bool {
        // SAFETY (test): `block` holds `size` initialised bytes.
        unsafe { std::slice::from_raw_parts(block, size) }
            .iter()
            .all(|b| *b == byte)
    }

    #[test]
    fn every_size_has_a_class_that_fits_it_and_the_classes_rise() {
        for size in 0..=LARGEST {
            let class = class_of(size).unwrap();
            assert!(class_size(class) >= size.max(1), "{size}");
            if class > 0 {
                assert!(class_size(class - 1) < size, "{size} fits a smaller class");
            }
            assert_eq!(class_size(class) % ALIGN, 0);
        }
        assert_eq!(class_of(LARGEST + 1), None);
        assert_eq!(class_of(LARGEST), Some(CLASSES - 1));
    }

    #[test]
    fn a_freed_block_is_the_next_one_of_its_class() {
        let a = SizeClasses::new(System);
        unsafe {
            let first = a.alloc(layout(100));
            a.dealloc(first, layout(100));
            let again = a.alloc(layout(112));
            assert_eq!(first, again, "100 and 112 bytes share a class");
            let other = a.alloc(layout(100));
            assert_ne!(other, again);
            a.dealloc(again, layout(112));
            a.dealloc(other, layout(100));
        }
    }

    #[test]
    fn small_blocks_are_16_aligned_and_large_ones_pass_through() {
        let a = SizeClasses::new(System);
        unsafe {
            for size in [1, 15, 17, 255, 257, 1000, 1024] {
                let b = a.alloc(layout(size));
                assert_eq!(b as usize % ALIGN, 0, "{size}");
                a.dealloc(b, layout(size));
            }
            let before = a.chunk_bytes();
            let big = a.alloc(layout(LARGEST + 1));
            fill(big, LARGEST + 1, 7);
            assert!(holds(big, LARGEST + 1, 7));
            a.dealloc(big, layout(LARGEST + 1));
            let aligned = Layout::from_size_align(64, 64).unwrap();
            let b = a.alloc(aligned);
            assert_eq!(b as usize % 64, 0);
            a.dealloc(b, aligned);
            assert_eq!(
                a.chunk_bytes(),
                before,
                "large and over-aligned blocks take no chunk"
            );
        }
    }

    #[test]
    fn realloc_keeps_the_block_within_a_class_and_the_bytes_across_classes() {
        let a = SizeClasses::new(System);
        unsafe {
            let b = a.alloc(layout(20));
            fill(b, 20, 3);
            let same = a.realloc(b, layout(20), 32);
            assert_eq!(same, b);
            let grown = a.realloc(same, layout(32), 600);
            assert!(holds(grown, 20, 3));
            fill(grown, 600, 4);
            let large = a.realloc(grown, layout(600), 5000);
            assert!(holds(large, 600, 4));
            let larger = a.realloc(large, layout(5000), 9000);
            assert!(holds(larger, 600, 4));
            let shrunk = a.realloc(larger, layout(9000), 40);
            assert!(holds(shrunk, 40, 4));
            a.dealloc(shrunk, layout(40));
        }
    }

    #[test]
    fn memory_held_is_the_peak_not_the_total() {
        let a = SizeClasses::new(System);
        unsafe {
            for _ in 0..10_000 {
                let blocks: Vec<_> = (1..=40).map(|i| a.alloc(layout(i * 24))).collect();
                for (i, b) in blocks.into_iter().enumerate() {
                    a.dealloc(b, layout((i + 1) * 24));
                }
            }
        }
        assert_eq!(
            a.chunk_bytes(),
            CHUNK,
            "one chunk covers 40 live blocks, reused"
        );
    }

    #[test]
    fn threads_sharing_it_never_get_the_same_block() {
        let a = Arc::new(SizeClasses::new(System));
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let a = Arc::clone(&a);
                std::thread::spawn(move || {
                    for round in 0..2000usize {
                        let size = 1 + (round * 37 + usize::from(t) * 11) % 700;
                        unsafe {
                            let b = a.alloc(layout(size));
                            fill(b, size, t);
                            std::thread::yield_now();
                            assert!(holds(b, size, t), "another thread wrote into a live block");
                            a.dealloc(b, layout(size));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(usize),
        Free(usize),
        Grow(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..3000).prop_map(Op::Alloc),
            any::<usize>().prop_map(Op::Free),
            (any::<usize>(), 1usize..3000).prop_map(|(i, n)| Op::Grow(i, n)),
        ]
    }

    proptest! {
        #[test]
        fn live_blocks_keep_their_bytes_whatever_else_happens(ops in proptest::collection::vec(op(), 1..300)) {
            let a = SizeClasses::new(System);
            // (block, size, the byte it holds)
            let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                let byte = (n % 251) as u8;
                unsafe {
                    match op {
                        Op::Alloc(size) => {
                            let b = a.alloc(layout(size));
                            fill(b, size, byte);
                            live.push((b, size, byte));
                        }
                        Op::Free(i) if !live.is_empty() => {
                            let (b, size, old) = live.swap_remove(i % live.len());
                            prop_assert!(holds(b, size, old));
                            a.dealloc(b, layout(size));
                        }
                        Op::Grow(i, new_size) if !live.is_empty() => {
                            let k = i % live.len();
                            let (b, size, old) = live[k];
                            let moved = a.realloc(b, layout(size), new_size);
                            prop_assert!(holds(moved, size.min(new_size), old));
                            fill(moved, new_size, byte);
                            live[k] = (moved, new_size, byte);
                        }
                        _ => {}
                    }
                }
                for (b, size, old) in &live {
                    prop_assert!(holds(*b, *size, *old));
                }
            }
            for (b, size, _) in live {
                unsafe { a.dealloc(b, layout(size)) };
            }
        }
    }
}
