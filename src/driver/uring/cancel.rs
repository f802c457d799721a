//! The ring side of the op slots: taking results, abandoning dropped ops, and cancelling.
//!
//! `slots.rs` decides (which slot, which state, which `user_data` to cancel) without a ring, so
//! the fuzz target can run it; this file does what needs the ring or the counters: pushing the
//! `ASYNC_CANCEL` entries the table asks for, and counting abandons and re-arms.
//!
//! # Cancels in io_uring, and the rule here
//!
//! An `ASYNC_CANCEL` is itself an entry with its own completion (`CANCEL_TOKEN`, counted by
//! `dispatch`). It names its target by `user_data`, by value, so it owns no memory and needs
//! no slot. It only *asks*: the target may have completed already (`ENOENT`), may be running
//! in a kernel worker and stop late (`EALREADY`), or may finish with a real result that raced
//! the cancel. So a cancel never frees anything: the target's own final completion, with
//! whatever result, is what frees its slot. They are sent for:
//!
//! * a dropped op (`abandon`): the future is gone, and the final result goes to the data's
//!   `dispose`;
//! * a stream's owner (`cancel_stream`), or its limit: the stream is still polled, and the
//!   final result is its last item;
//! * a cancelling scope (`cancel_in_flight`, `cancel_live`): the future is still polled, and
//!   gets `TimedOut` or the op's own result if the op won the race;
//! * shutdown (`shutdown_step` in `reap.rs`): every op still in flight, once a second, each
//!   final result going where one of the above would send it.
//!
//! A cancel that races a reused index is harmless: it names the generation too, and a slot
//! given to another op has another one (`slots.rs`).

use super::super::opcode::{Abandoned, CqeResult};
use super::slots::{Dropped, SlotTable};
use super::{Uring, CANCEL_TOKEN};
use io_uring::opcode;
use std::task::{Poll, Waker};

impl Uring {
    /// The slot table, for taking results (`SlotTable::poll_result`, `poll_stream`) without a
    /// pass-through here: the ring has nothing to add to that.
    #[inline]
    pub(crate) fn slots_mut(&mut self) -> &mut SlotTable {
        &mut self.slots
    }

    /// Counts a multishot op that `SlotTable::poll_stream` just said ended (`polled`) with a
    /// result that is neither a cancel nor the end of the stream (say `ENOBUFS`: the buffer
    /// group ran dry), after which its owner usually arms it again (a receive ended by an
    /// error is counted too, and not re-armed). The count shows how often a multishot op falls
    /// back to being re-armed one submission at a time, which costs an SQE per re-arm where a
    /// healthy stream costs none.
    #[inline]
    pub(crate) fn count_rearm(&self, polled: &Poll<Option<(CqeResult, bool)>>) {
        if let Poll::Ready(Some((cqe, true))) = polled {
            if !matches!(&cqe.result, Ok(0)) && !is_cancel(&cqe.result) {
                self.counters.multishot_rearms.bump();
            }
        }
    }

    /// The op's future was dropped: keep `data` until the final completion and cancel the op.
    /// Returns the data if the op had already finished, and the waker the slot held, for the
    /// caller to drop after the borrow.
    pub(crate) fn abandon(
        &mut self,
        index: usize,
        data: Box<dyn Abandoned>,
    ) -> (Option<Box<dyn Abandoned>>, Option<Waker>) {
        match self.slots.abandon(index, data) {
            Dropped::Finished(data, waker) => (Some(data), waker),
            Dropped::Kept { cancel, waker } => {
                // Counted only when the slot keeps the data: an op dropped after it finished
                // costs nothing, and the metric is there to show memory held for the kernel.
                self.counters.abandoned_ops.bump();
                if let Some(user_data) = cancel {
                    self.push_cancel(user_data);
                }
                (None, waker)
            }
            // The table already forgot the data (shutdown leaked the slot it belonged to).
            Dropped::Leaked => (None, None),
        }
    }

    /// Limits how many results the multishot op in slot `index` may have waiting untaken: past
    /// that the driver cancels it (its results so far are still delivered, then it ends).
    pub(crate) fn limit_stream(&mut self, index: usize, max_waiting: usize) {
        self.slots.limit_stream(index, max_waiting);
    }

    /// Cancels the multishot op in slot `index` while its owner keeps taking its results, which
    /// end with the cancel's own (`ECANCELED`, or the op's last result if it ended first).
    pub(crate) fn cancel_stream(&mut self, index: usize) {
        if let Some(user_data) = self.slots.cap_stream(index) {
            self.push_cancel(user_data);
        }
    }

    /// Asks the kernel to cancel an op whose future still waits for it (an explicit
    /// cancel-and-await, see `cancel_scope.rs`): the future keeps its data and takes the final
    /// result, whatever it is. Nothing happens if the op already finished.
    pub(crate) fn cancel_in_flight(&mut self, index: usize) {
        if let Some(user_data) = self.slots.cancel_target(index) {
            self.push_cancel(user_data);
        }
    }

    /// The `user_data` of the op in slot `index`, if the slot is in use (for `cancel_scope.rs`,
    /// which tracks the ops a scope submitted).
    pub(crate) fn user_data_of(&self, index: usize) -> Option<u64> {
        self.slots.user_data_of(index)
    }

    /// Whether the op `user_data` names still holds its slot (in flight, or its result untaken).
    /// A cancel scope keeps `user_data`s, not indices, because its entries may outlive the op:
    /// by the time it looks, the index may belong to another op of another generation.
    pub(crate) fn is_live(&self, user_data: u64) -> bool {
        self.user_data_of((user_data & 0xffff_ffff) as usize) == Some(user_data)
    }

    /// Cancels the op `user_data` names if it still holds its slot: a slot since given to
    /// another op has another generation and is left alone.
    pub(crate) fn cancel_live(&mut self, user_data: u64) {
        if self.is_live(user_data) {
            self.cancel_in_flight((user_data & 0xffff_ffff) as usize);
        }
    }

    /// Queues an `ASYNC_CANCEL` for `user_data`, sent with the turn's batch. Cancels are
    /// requests: the target still posts its own final completion (`ECANCELED`, or its result if
    /// it won the race), and only that frees its slot.
    pub(super) fn push_cancel(&mut self, user_data: u64) {
        self.counters.cancels_sent.bump();
        let entry = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(CANCEL_TOKEN);
        // If the cancel cannot be queued the op still completes on its own (or at shutdown, which
        // retries cancels); its data stays in the slot either way, so ignoring this is sound.
        let _ = self.push_entry(&entry);
    }
}

/// Whether a stream ended because it was cancelled (by its owner, its limit or a scope): asked
/// to stop, not ended by the kernel, so not counted, even where the owner re-arms (a receive
/// stream does after its limit's cancel, `op/recv_multi.rs`).
fn is_cancel(result: &std::io::Result<u32>) -> bool {
    matches!(result, Err(err) if err.raw_os_error() == Some(libc::ECANCELED))
}
