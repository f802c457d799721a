//! Disposing of a dropped op's results inside the driver, where a panic must not unwind.
//!
//! An op dropped in flight leaves its data with the driver, which hands it every later result
//! (`Abandoned::dispose`: close the fd an accept returned, note where a receive's bytes went).
//! That runs inside the driver's own bookkeeping (a completion being applied, a slot being
//! emptied), and it may run user code: a receive asks the user's buffer where the bytes went.
//! If that panicked through the driver, the bookkeeping would stop half-way: the completion
//! consumed but the slot never freed (a stream's next op waiting for ever for the dropped one
//! to settle), later completions of the same batch left unapplied, the wake poll not re-armed.
//!
//! So the panic is caught where the dispose runs, the bookkeeping goes on as if the dispose had
//! returned, and the panic is raised again at the end of the loop turn, with every completion
//! applied and no borrow held: out of `block_on`, as any panic of user code there. (An op
//! dropped by user code, perhaps outside any turn or inside another runtime's, has its panic
//! kept by its own driver and raised by its own runtime's next turn: see [`park_caught`].)
//! A worker of a multi-worker runtime drops it instead: its loop has no caller to raise it to,
//! and out of the loop it would end the worker and every other task on it. A runtime's shutdown drops it, as it drops its wakers' panics: shutdown
//! is not cut short. Only the first of several is kept; the rest are dropped (the panic hook
//! printed their messages already).

use super::opcode::{Abandoned, CqeResult};
use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// The panic a dispose raised on this thread, waiting to be raised again.
    static CAUGHT: Cell<Option<Box<dyn Any + Send>>> = const { Cell::new(None) };
}

/// Runs `data.dispose(cqe)`, keeping a panic for [`take_caught`] instead of unwinding.
/// `AssertUnwindSafe` holds because the caller acts only on what the driver itself owns after
/// this returns (the slot, the counters); the data is kept or freed as if the call returned.
pub(crate) fn dispose(data: &mut (impl Abandoned + ?Sized), cqe: &CqeResult) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| data.dispose(cqe))) {
        // `try_with`: a runtime may be dropped by a thread-local's destructor, after this one
        // is gone; the panic is dropped then (the hook printed it), as at shutdown.
        let _ = CAUGHT.try_with(|caught| {
            let first = caught.take().unwrap_or(payload);
            caught.set(Some(first));
        });
    }
}

/// Takes the panic a dispose raised on this thread, if any, to raise again (`resume_unwind`)
/// where the driver is not borrowed.
pub(crate) fn take_caught() -> Option<Box<dyn Any + Send>> {
    CAUGHT.try_with(Cell::take).ok().flatten()
}

/// Moves the panic a dispose just raised on this thread into `parked`, a spot of the driver
/// the op belongs to (unless it holds one already), for that runtime's next turn to raise. For
/// an op dropped by user code (`op_future::abandon`), which may run outside any turn or in
/// another runtime's: left on the thread, the panic would come out of whichever runtime turned
/// next on it, perhaps another one.
pub(crate) fn park_caught(parked: &mut Option<Box<dyn Any + Send>>) {
    if let Some(payload) = CAUGHT.try_with(Cell::take).ok().flatten() {
        parked.get_or_insert(payload);
    }
}

/// Drops the panic a dispose raised on this thread, if any (a runtime's shutdown).
pub(crate) fn forget_caught() {
    drop(CAUGHT.try_with(Cell::take).ok().flatten());
}
