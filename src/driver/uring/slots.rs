//! The io_uring backend's op slots: taking results, abandoning and cancelling ops.

use super::super::lifecycle::Lifecycle;
use super::super::opcode::{Abandoned, CqeResult};
use super::super::{given_up, set_waker};
use super::{Uring, CANCEL_TOKEN};
use io_uring::opcode;
use std::task::{Poll, Waker};

impl Uring {
    /// Takes the final result of a single-shot op, or records who to wake for it. A waker this
    /// replaces goes to `replaced`, for the caller to drop once the driver is not borrowed.
    pub(crate) fn poll_result(
        &mut self,
        index: usize,
        waker: &Waker,
        replaced: &mut Option<Waker>,
    ) -> Poll<CqeResult> {
        let Some(slot) = self.slots.get_mut(index) else {
            given_up();
        };
        match &mut slot.lifecycle {
            Lifecycle::Pending { waker: w, .. } => {
                *replaced = set_waker(w, waker);
                Poll::Pending
            }
            Lifecycle::Completed(_) => match self.slots.remove(index).lifecycle {
                Lifecycle::Completed(cqe) => Poll::Ready(cqe),
                _ => unreachable!("coring driver: slot changed state under a borrow"),
            },
            _ => unreachable!("coring driver: a single-shot op polled a slot of another kind"),
        }
    }

    /// Takes the next result of a multishot op; `true` with the result means it was the last.
    /// A waker this replaces goes to `replaced`, as in [`Driver::poll_result`].
    pub(crate) fn poll_stream(
        &mut self,
        index: usize,
        waker: &Waker,
        replaced: &mut Option<Waker>,
    ) -> Poll<Option<(CqeResult, bool)>> {
        let Some(slot) = self.slots.get_mut(index) else {
            given_up();
        };
        let Lifecycle::Streaming {
            ready,
            waker: w,
            finished,
            ..
        } = &mut slot.lifecycle
        else {
            unreachable!("coring driver: a multishot op polled a slot of another kind")
        };
        match ready.pop_front() {
            Some(cqe) => {
                let last = *finished && ready.is_empty();
                if last {
                    self.slots.remove(index);
                    // The kernel ended the op with a result that is neither a cancel nor the
                    // end of the stream: its owner, still reading, arms it again.
                    if !matches!(&cqe.result, Ok(0)) && !is_cancel(&cqe.result) {
                        self.counters.multishot_rearms.bump();
                    }
                }
                Poll::Ready(Some((cqe, last)))
            }
            None if *finished => {
                self.slots.remove(index);
                Poll::Ready(None)
            }
            None => {
                *replaced = set_waker(w, waker);
                Poll::Pending
            }
        }
    }

    /// The op's future was dropped: keep `data` until the final completion and cancel the op.
    /// Returns the data if the op had already finished, and the waker the slot held, for the
    /// caller to drop after the borrow.
    pub(crate) fn abandon(
        &mut self,
        index: usize,
        mut data: Box<dyn Abandoned>,
    ) -> (Option<Box<dyn Abandoned>>, Option<Waker>) {
        let Some(slot) = self.slots.get_mut(index) else {
            // Shutdown gave up on this op (`leak_in_flight`) while its future lived on outside
            // the runtime: the kernel may still write the op's memory, so it is leaked too.
            std::mem::forget(data);
            return (None, None);
        };
        let old_waker;
        let user_data = (u64::from(slot.generation) << 32) | index as u64;
        let cancel = match &mut slot.lifecycle {
            Lifecycle::Completed(cqe) => {
                data.dispose(cqe);
                self.slots.remove(index);
                return (Some(data), None);
            }
            Lifecycle::Streaming {
                ready,
                finished,
                waker,
                ..
            } => {
                old_waker = waker.take();
                for cqe in ready.drain(..) {
                    data.dispose(&cqe);
                }
                if *finished {
                    self.slots.remove(index);
                    return (Some(data), old_waker);
                }
                true
            }
            Lifecycle::Pending { partial, waker } => {
                old_waker = waker.take();
                // A zero-copy send that already has its result only waits for the kernel to let
                // go of the buffer; there is nothing left to cancel.
                if let Some(cqe) = partial.take() {
                    data.dispose(&cqe);
                    false
                } else {
                    true
                }
            }
            Lifecycle::Abandoned(_) => {
                unreachable!("coring driver: an op was abandoned twice")
            }
        };
        // The state replaced holds no waker any more (taken above): dropping it runs no user code.
        slot.lifecycle = Lifecycle::Abandoned(data);
        self.counters.abandoned_ops.bump();
        if cancel {
            self.push_cancel(user_data);
        }
        (None, old_waker)
    }

    /// Limits how many results the multishot op in slot `index` may have waiting untaken: past
    /// that the driver cancels it (its results so far are still delivered, then it ends).
    pub(crate) fn limit_stream(&mut self, index: usize, max_waiting: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.lifecycle.set_limit(max_waiting);
        }
    }

    /// Cancels the multishot op in slot `index` while its owner keeps taking its results, which
    /// end with the cancel's own (`ECANCELED`, or the op's last result if it ended first).
    pub(crate) fn cancel_stream(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if slot.lifecycle.cap() {
            let user_data = (u64::from(slot.generation) << 32) | index as u64;
            self.push_cancel(user_data);
        }
    }

    /// Asks the kernel to cancel an op whose future still waits for it (an explicit
    /// cancel-and-await, see `cancel_scope.rs`): the future keeps its data and takes the final
    /// result, whatever it is. Nothing happens if the op already finished.
    pub(crate) fn cancel_in_flight(&mut self, index: usize) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        match &slot.lifecycle {
            // A zero-copy send with its result only waits for the kernel to let go of the
            // buffer: nothing is left to cancel.
            Lifecycle::Pending { partial: None, .. } => {
                let user_data = (u64::from(slot.generation) << 32) | index as u64;
                self.push_cancel(user_data);
            }
            Lifecycle::Streaming { .. } => self.cancel_stream(index),
            _ => {}
        }
    }

    /// The `user_data` of the op in slot `index`, if the slot is in use (for `cancel_scope.rs`,
    /// which tracks the ops a scope submitted).
    pub(crate) fn user_data_of(&self, index: usize) -> Option<u64> {
        let slot = self.slots.get(index)?;
        Some((u64::from(slot.generation) << 32) | index as u64)
    }

    /// Whether the op `user_data` names still holds its slot (in flight, or its result untaken).
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

fn is_cancel(result: &std::io::Result<u32>) -> bool {
    matches!(result, Err(err) if err.raw_os_error() == Some(libc::ECANCELED))
}
