//! Whether the kernel answered an op at once: the hint a stream receive uses to choose between
//! trying at once and `POLL_FIRST` (`net/stream.rs`, `op/recv.rs`).
//!
//! Each [`park`](super::Uring::park) that enters the kernel is counted, with whether work was
//! already pending when it entered (deferred task work flagged by `IORING_SQ_TASKRUN`, or
//! completions in the queue), so that its wait could not sleep. An op submitted before park `n`
//! whose result came from park `n + 1`, a park that did not sleep, was answered by the kernel
//! within one loop turn of a loop that never waited: a receive found its bytes already there
//! (inline, or through a poll that was ready when armed). That is how a saturated server sees a
//! fast peer, and its next receive is better tried at once. A result that came later, or from a
//! park that slept, had to wait for the peer: the next receive had better poll first.
//!
//! Per thread, not per ring: only one runtime runs on a thread at a time, and this is a hint.

use std::cell::Cell;

thread_local! {
    /// Parks so far (wrapping) and whether the latest found work pending before its wait.
    static PARKS: Cell<(u32, bool)> = const { Cell::new((0, false)) };
}

/// Counts a park that enters the kernel; `busy`: work was pending before its wait.
#[inline]
pub(super) fn record(busy: bool) {
    PARKS.with(|parks| parks.set((parks.get().0.wrapping_add(1), busy)));
}

/// The parks counted so far on this thread: an op pushed now goes to the kernel with the next.
#[inline]
pub(crate) fn count() -> u32 {
    PARKS.with(|parks| parks.get().0)
}

/// Whether an op pushed when [`count`] was `pushed_at` and completed by now was answered at once
/// (see the module docs). Asked right after its result is taken, in the turn after that park.
#[inline]
pub(crate) fn answered_at_once(pushed_at: u32) -> bool {
    PARKS.with(|parks| {
        let (count, busy) = parks.get();
        busy && count == pushed_at.wrapping_add(1)
    })
}
