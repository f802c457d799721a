//! The runtime's counters: one cell per event, each written only by the thread that owns the
//! runtime, read by anyone through a snapshot ([`crate::runtime::Metrics`]).
//!
//! # Why atomics, and why they cost nothing here
//!
//! A worker's counters must be readable from other threads (`MultiRuntime::metrics`), so they
//! live in an `Arc` the worker shares. Only the owner writes them, so a bump is a `Relaxed` load
//! and store, never a read-modify-write: on x86-64 and AArch64 that compiles to the same plain
//! `mov`s as a `u64` field, with no lock prefix and no fence. A reader on another thread sees
//! each counter's value at some recent moment (never a torn one); counters are not read
//! together atomically, which a snapshot of independent counts does not need.
//!
//! Built with `RUSTFLAGS="--cfg coring_no_metrics"`, every write is compiled out (all counters
//! read 0): the build the metrics' overhead is measured against (`benches/README.md`).
//!
//! Driver, executor and timers each write their own fields; none of them knows the others.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// One counter or gauge, written by its owner thread only.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds one. Owner thread only: a load and a store, not an atomic increment.
    #[inline(always)]
    pub(crate) fn bump(&self) {
        self.add(1);
    }

    /// Adds `n`. Owner thread only.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64) {
        #[cfg(not(coring_no_metrics))]
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
        #[cfg(coring_no_metrics)]
        let _ = n;
    }

    /// Takes `n` off a gauge. Owner thread only.
    #[inline(always)]
    pub(crate) fn sub(&self, n: u64) {
        #[cfg(not(coring_no_metrics))]
        self.0
            .store(self.0.load(Relaxed).saturating_sub(n), Relaxed);
        #[cfg(coring_no_metrics)]
        let _ = n;
    }

    /// Sets a gauge. Owner thread only.
    #[inline(always)]
    pub(crate) fn set(&self, value: u64) {
        #[cfg(not(coring_no_metrics))]
        self.0.store(value, Relaxed);
        #[cfg(coring_no_metrics)]
        let _ = value;
    }

    /// The current value; any thread.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Every counter of one runtime. Field meanings are documented on [`crate::runtime::Metrics`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    // Driver.
    pub(crate) sqes_submitted: Counter,
    pub(crate) enters: Counter,
    pub(crate) sq_full_flushes: Counter,
    pub(crate) completions: Counter,
    pub(crate) cq_dropped: Counter,
    pub(crate) cq_overflows: Counter,
    pub(crate) ops_in_flight: Counter,
    pub(crate) op_slots_in_use: Counter,
    pub(crate) cancels_sent: Counter,
    pub(crate) cancels_in_flight: Counter,
    pub(crate) abandoned_ops: Counter,
    pub(crate) multishot_rearms: Counter,
    pub(crate) enobufs: Counter,
    pub(crate) msg_ring_sent: Counter,
    pub(crate) msg_ring_failed: Counter,
    pub(crate) msg_ring_received: Counter,
    // Executor.
    pub(crate) tasks_polled: Counter,
    pub(crate) live_tasks: Counter,
    pub(crate) local_wakes: Counter,
    pub(crate) remote_wakes: Counter,
    // Timers.
    pub(crate) timers_armed: Counter,
    pub(crate) timers_fired: Counter,
    pub(crate) pending_timers: Counter,
    /// Whether the ring is entered through this thread's registered-ring table. Set once when
    /// the ring is made, and kept apart from the counters: it is not compiled out with them.
    ring_fd_registered: AtomicBool,
    /// Whether the wake-up poll is armed multishot (the driver, when it arms it). Kept apart
    /// from the counters like `ring_fd_registered`.
    wake_poll_multishot: AtomicBool,
}

impl Counters {
    /// Records whether the ring fd is registered (the driver, when it makes the ring).
    pub(crate) fn set_ring_fd_registered(&self, registered: bool) {
        self.ring_fd_registered.store(registered, Relaxed);
    }

    /// Records whether the wake-up poll is multishot (the driver, at each arm).
    pub(crate) fn set_wake_poll_multishot(&self, multishot: bool) {
        self.wake_poll_multishot.store(multishot, Relaxed);
    }

    /// Whether the wake-up poll is multishot; any thread.
    pub(crate) fn wake_poll_multishot(&self) -> bool {
        self.wake_poll_multishot.load(Relaxed)
    }

    /// Whether the ring fd is registered; any thread.
    pub(crate) fn ring_fd_registered(&self) -> bool {
        self.ring_fd_registered.load(Relaxed)
    }
}
