//! [`CountingAlloc`]: the system allocator, counting live bytes and allocations, so leak tests can
//! assert a heap delta of zero (tokio's `io_async_fd_memory_leak.rs` approach: exact, unlike RSS).
//!
//! A test binary opts in with
//! `#[global_allocator] static A: common::CountingAlloc = common::CountingAlloc::new();`. The
//! counts are process-wide (every thread), so a binary that measures them should hold one test,
//! or run its measuring tests one at a time, and print nothing between two snapshots (libtest's
//! output capture allocates).
//!
//! It also keeps live allocations by size ([`SizeSnapshot`]), so a test can say where a figure
//! comes from: "10,000 × 640 B (the task), 20,000 × 40 B, ...".

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_ALLOCS: AtomicI64 = AtomicI64::new(0);
static TOTAL_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Live allocations by exact size, for sizes below `SIZES`; larger ones share the last entry.
const SIZES: usize = 4097;
static LIVE_BY_SIZE: [AtomicI64; SIZES] = [const { AtomicI64::new(0) }; SIZES];

/// The system allocator with counters (see the module docs).
#[derive(Debug, Default)]
pub struct CountingAlloc;

impl CountingAlloc {
    /// The allocator, for a `#[global_allocator]` static.
    pub const fn new() -> CountingAlloc {
        CountingAlloc
    }

    /// Whether this binary installed it (otherwise the counters never move).
    pub fn installed() -> bool {
        let before = TOTAL_ALLOCS.load(Relaxed);
        drop(std::hint::black_box(Box::new(0u64)));
        TOTAL_ALLOCS.load(Relaxed) != before
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the GlobalAlloc contract;
// the counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout, as GlobalAlloc::alloc requires.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            counted(layout.size() as i64, 1);
            by_size(layout.size(), 1);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            counted(layout.size() as i64, 1);
            by_size(layout.size(), 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (that is, System) gave out, with its
        // layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Relaxed);
        by_size(layout.size(), -1);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            counted(new_size as i64 - layout.size() as i64, 0);
            by_size(layout.size(), -1);
            by_size(new_size, 1);
        }
        new
    }
}

fn by_size(size: usize, allocs: i64) {
    LIVE_BY_SIZE[size.min(SIZES - 1)].fetch_add(allocs, Relaxed);
}

fn counted(bytes: i64, allocs: i64) {
    LIVE_BYTES.fetch_add(bytes, Relaxed);
    LIVE_ALLOCS.fetch_add(allocs, Relaxed);
    TOTAL_ALLOCS.fetch_add(1, Relaxed);
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapSnapshot {
    /// Bytes allocated and not freed.
    pub live_bytes: i64,
    /// Allocations not freed.
    pub live_allocs: i64,
    /// Allocations (and reallocations) made so far.
    pub total_allocs: u64,
}

impl HeapSnapshot {
    /// The counters now.
    pub fn now() -> HeapSnapshot {
        HeapSnapshot {
            live_bytes: LIVE_BYTES.load(Relaxed),
            live_allocs: LIVE_ALLOCS.load(Relaxed),
            total_allocs: TOTAL_ALLOCS.load(Relaxed),
        }
    }

    /// Live bytes and live allocations gained since `earlier` (negative if freed).
    pub fn since(&self, earlier: &HeapSnapshot) -> (i64, i64) {
        (
            self.live_bytes - earlier.live_bytes,
            self.live_allocs - earlier.live_allocs,
        )
    }

    /// Waits up to `limit` for the live counts to come back to `baseline` (threads the test
    /// started may still be exiting), and returns the delta in the end: `(bytes, allocations)`.
    pub fn settle_to(baseline: &HeapSnapshot, limit: Duration) -> (i64, i64) {
        let deadline = Instant::now() + limit;
        loop {
            let delta = HeapSnapshot::now().since(baseline);
            if delta == (0, 0) || Instant::now() >= deadline {
                return delta;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Live allocations by size at one moment (see the module docs).
#[derive(Debug, Clone)]
pub struct SizeSnapshot(Vec<i64>);

impl SizeSnapshot {
    /// The live counts now.
    pub fn now() -> SizeSnapshot {
        SizeSnapshot(LIVE_BY_SIZE.iter().map(|n| n.load(Relaxed)).collect())
    }

    /// The sizes whose live count changed since `earlier`, as `(size, count gained)`, the most
    /// bytes first. The last size, `4096`, stands for every size from 4096 up.
    pub fn since(&self, earlier: &SizeSnapshot) -> Vec<(usize, i64)> {
        let mut gained: Vec<(usize, i64)> = (self.0.iter().zip(&earlier.0))
            .enumerate()
            .map(|(size, (now, then))| (size, now - then))
            .filter(|&(_, n)| n != 0)
            .collect();
        gained.sort_by_key(|&(size, n)| std::cmp::Reverse(size as i64 * n));
        gained
    }
}
