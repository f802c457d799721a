//! The io_uring backend's op slots: the slot table, and the ring side of taking results,
//! abandoning and cancelling ops.
//!
//! [`SlotTable`] is the whole slab of op slots and nothing of the ring: it hands out
//! `user_data`, applies completions to slots, takes results, keeps the data of dropped ops until
//! their final completion, and says which `user_data` to cancel. `Uring` owns one and adds the
//! ring (pushing cancels), the counters and the wakers' hand-off. The fuzz target `op_lifecycle`
//! drives this same table (through `fuzz_support.rs`) with a scripted kernel, so what it checks
//! is the code the driver runs.

use super::super::lifecycle::{AfterCqe, Lifecycle};
use super::super::opcode::{Abandoned, CqeResult};
use super::super::{given_up, set_waker};
use super::{Uring, CANCEL_TOKEN};
use io_uring::opcode;
use slab::Slab;
use std::task::{Poll, Waker};

/// Generations stay below this so an op's user_data never collides with a reserved token (those
/// have the top bit set, see `uring/mod.rs`).
const GENERATION_MASK: u32 = 0x7fff_ffff;

/// One op's place in the table.
struct Slot {
    /// The table's generation when this slot was filled. A completion carries it in its
    /// `user_data`; one whose generation differs is for an earlier op in the same index (a
    /// cancel that arrived after its target finished and the index was reused) and is ignored.
    generation: u32,
    /// Where the op is and who owns its data (`lifecycle.rs`).
    lifecycle: Lifecycle,
}

impl Slot {
    fn user_data(&self, index: usize) -> u64 {
        (u64::from(self.generation) << 32) | index as u64
    }
}

/// The slab of op slots, addressed by `user_data` = generation << 32 | slab index.
///
/// A slab, not a map: indices are reused as soon as freed (the slab's free list), so the table
/// stays as large as the most ops ever in flight at once, and a lookup is an index. The cost is
/// that an index alone cannot tell an op from the next one in its place; the generation can.
#[derive(Default)]
pub(crate) struct SlotTable {
    slots: Slab<Slot>,
    /// Bumped per insert, wrapping below 2^31. A stale `user_data` could only match again after
    /// 2^31 inserts *and* the same index: a late cancel is never outstanding that long.
    generation: u32,
}

/// What one completion did to the table.
pub(crate) enum Reaped {
    /// No slot has this `user_data` (freed, or reused by a newer generation).
    Unknown,
    /// The slot's op already had its final completion (a kernel bug): ignored.
    AfterFinal,
    /// The slot stays and nobody is to be woken (a zero-copy send's first result, an abandoned
    /// op's non-final result).
    Keep,
    /// The slot stays; wake `waker`. `finished`: that was the op's final completion.
    Wake {
        waker: Option<Waker>,
        finished: bool,
    },
    /// As `Wake`, and the stream reached its limit of untaken results: cancel it.
    WakeAndCancel(Option<Waker>),
    /// An abandoned op's final completion: its slot is free and its data is handed back, to be
    /// dropped once the driver is not borrowed.
    Free(Box<dyn Abandoned>),
}

/// What dropping an op's future did to its slot.
pub(crate) enum Dropped {
    /// The op had already finished: its results were disposed of and its data comes back (with
    /// the waker the slot held), to be dropped once the driver is not borrowed.
    Finished(Box<dyn Abandoned>, Option<Waker>),
    /// The slot keeps the data until the final completion; cancel `cancel` if set (a zero-copy
    /// send with its result only waits for the kernel to let go: nothing to cancel). `waker` is
    /// the one the slot held.
    Kept {
        cancel: Option<u64>,
        waker: Option<Waker>,
    },
    /// Shutdown gave up on this op (the slot is gone) while its future lived on outside the
    /// runtime: the kernel may still write the op's memory, so it was leaked.
    Leaked,
}

impl SlotTable {
    /// An empty table with room for `capacity` slots before it allocates.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        SlotTable {
            slots: Slab::with_capacity(capacity),
            generation: 0,
        }
    }

    /// A slot for an op about to be pushed, woken through `waker`; its index and `user_data`.
    pub(crate) fn insert(&mut self, multishot: bool, waker: &Waker) -> (usize, u64) {
        self.generation = (self.generation + 1) & GENERATION_MASK;
        let lifecycle = Lifecycle::waiting(multishot, waker.clone());
        let slot = Slot {
            generation: self.generation,
            lifecycle,
        };
        let entry = self.slots.vacant_entry();
        let index = entry.key();
        let user_data = slot.user_data(index);
        entry.insert(slot);
        (index, user_data)
    }

    /// Frees the slot of an op whose entry never reached the queue (the kernel knows nothing
    /// of it). The only way a slot goes without a completion: never call it after a push.
    pub(crate) fn remove_unsubmitted(&mut self, index: usize) {
        self.slots.remove(index);
    }

    /// Number of slots whose op the kernel may still complete.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .count()
    }

    /// Number of slots in use (in flight, or completed and not yet taken).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The `user_data` of the op in slot `index`, if the slot is in use.
    pub(crate) fn user_data_of(&self, index: usize) -> Option<u64> {
        Some(self.slots.get(index)?.user_data(index))
    }

    /// Applies one completion to the slot `user_data` names. The hot path of `dispatch`: an
    /// index, a generation compare and a match, no allocation. Reaped results stay in the slot
    /// (`Completed`, `ready`) for the future's next poll, so an op completed and dropped before
    /// that poll still has its result disposed of by `abandon`.
    #[inline]
    pub(crate) fn complete(&mut self, user_data: u64, cqe: CqeResult) -> Reaped {
        let index = (user_data & 0xffff_ffff) as usize;
        let generation = (user_data >> 32) as u32;
        let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
        else {
            return Reaped::Unknown;
        };
        if !slot.lifecycle.in_flight() {
            return Reaped::AfterFinal;
        }
        let mut waker = None;
        match slot.lifecycle.on_cqe(cqe, &mut waker) {
            AfterCqe::Keep => Reaped::Keep,
            AfterCqe::Wake => Reaped::Wake {
                waker,
                finished: !slot.lifecycle.in_flight(),
            },
            AfterCqe::WakeAndCancel => Reaped::WakeAndCancel(waker),
            AfterCqe::Free => match self.slots.remove(index).lifecycle {
                Lifecycle::Abandoned(data) => Reaped::Free(data),
                _ => unreachable!("coring driver: a slot freed that was not abandoned"),
            },
        }
    }

    /// Takes the final result of a single-shot op, or records who to wake for it; a waker this
    /// replaces goes to `replaced`. Taking the result frees the slot: from here the op's data
    /// is the future's alone, and the kernel has nothing left of it. A missing slot means
    /// shutdown gave up on the op (see `given_up`).
    #[inline]
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

    /// Takes the next result of a multishot op (`true` with it: the last), `None` once the
    /// stream ended; a waker this replaces goes to `replaced`.
    #[inline]
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
        // Results come out in the kernel's order; the slot goes with the last one, so the
        // stream's final poll both delivers it and releases the slot.
        match ready.pop_front() {
            Some(cqe) => {
                let last = *finished && ready.is_empty();
                if last {
                    self.slots.remove(index);
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

    /// The op's future was dropped: its results nobody took are disposed of, and the slot keeps
    /// `data` until the final completion (or hands it back if the op had finished).
    ///
    /// A missing slot means shutdown already gave up on the op and leaked its slot: the kernel
    /// may still write the data, so it is leaked too (`mem::forget`), never dropped.
    pub(crate) fn abandon(&mut self, index: usize, mut data: Box<dyn Abandoned>) -> Dropped {
        let Some(slot) = self.slots.get_mut(index) else {
            std::mem::forget(data);
            return Dropped::Leaked;
        };
        let user_data = slot.user_data(index);
        let (cancel, waker) = match &mut slot.lifecycle {
            // Completed but untaken (the future was dropped between the completion and its next
            // poll): the result still needs disposing of (an accepted fd, bytes that moved).
            Lifecycle::Completed(cqe) => {
                data.dispose(cqe);
                self.slots.remove(index);
                return Dropped::Finished(data, None);
            }
            Lifecycle::Streaming {
                ready,
                finished,
                waker,
                ..
            } => {
                let waker = waker.take();
                for cqe in ready.drain() {
                    data.dispose(&cqe);
                }
                if *finished {
                    self.slots.remove(index);
                    return Dropped::Finished(data, waker);
                }
                (Some(user_data), waker)
            }
            // A zero-copy send with its result (`partial`) sent its bytes: nothing to cancel,
            // only the notification to wait for, whose buffer the slot now keeps.
            Lifecycle::Pending { partial, waker } => {
                let cancel = match partial.take() {
                    Some(cqe) => {
                        data.dispose(&cqe);
                        None
                    }
                    None => Some(user_data),
                };
                (cancel, waker.take())
            }
            Lifecycle::Abandoned(_) => {
                unreachable!("coring driver: an op was abandoned twice")
            }
        };
        // The state replaced holds no waker any more (taken above): dropping it runs no user code.
        slot.lifecycle = Lifecycle::Abandoned(data);
        Dropped::Kept { cancel, waker }
    }

    /// Limits how many results the multishot op in slot `index` may have waiting untaken.
    pub(crate) fn limit_stream(&mut self, index: usize, max_waiting: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.lifecycle.set_limit(max_waiting);
        }
    }

    /// Marks the multishot op in slot `index` as capped; the `user_data` to cancel if it runs
    /// and was not capped already.
    pub(crate) fn cap_stream(&mut self, index: usize) -> Option<u64> {
        let slot = self.slots.get_mut(index)?;
        slot.lifecycle.cap().then(|| slot.user_data(index))
    }

    /// The `user_data` to cancel for an op whose future still waits for it, if anything is left
    /// to cancel (a multishot op is capped on the way).
    pub(crate) fn cancel_target(&mut self, index: usize) -> Option<u64> {
        let slot = self.slots.get(index)?;
        match &slot.lifecycle {
            // A zero-copy send with its result only waits for the kernel to let go of the
            // buffer: nothing is left to cancel.
            Lifecycle::Pending { partial: None, .. } => Some(slot.user_data(index)),
            Lifecycle::Streaming { .. } => self.cap_stream(index),
            _ => None,
        }
    }

    /// The `user_data` of every op the kernel may still complete (shutdown cancels them).
    pub(crate) fn in_flight_user_data(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .map(|(i, s)| s.user_data(i))
            .collect()
    }

    /// Asks every abandoned op's data to make the kernel let go of it (see
    /// `Abandoned::shut_down`).
    pub(crate) fn shut_down_abandoned(&mut self) {
        for (_, slot) in self.slots.iter_mut() {
            if let Lifecycle::Abandoned(data) = &mut slot.lifecycle {
                data.shut_down();
            }
        }
    }

    /// Gives up on every op the kernel may still complete: its slot and data are leaked, never
    /// freed, because the kernel may still write to that memory. Returns how many. Their
    /// futures, if any still live, find no slot and panic with `given_up` when polled.
    pub(crate) fn leak_in_flight(&mut self) -> usize {
        let leaked: Vec<usize> = self
            .slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .map(|(i, _)| i)
            .collect();
        for &index in &leaked {
            std::mem::forget(self.slots.remove(index));
        }
        leaked.len()
    }
}

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
                self.counters.abandoned_ops.bump();
                if let Some(user_data) = cancel {
                    self.push_cancel(user_data);
                }
                (None, waker)
            }
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

/// Whether a stream ended because it was cancelled (by its owner, its limit or a scope), which
/// its owner does not re-arm.
fn is_cancel(result: &std::io::Result<u32>) -> bool {
    matches!(result, Err(err) if err.raw_os_error() == Some(libc::ECANCELED))
}

#[cfg(test)]
mod tests {
    /// Every armed op has a slot, an idle connection's receive too, and the slab grows by
    /// doubling: each byte of a slot costs up to two per connection (issue 19).
    #[test]
    fn a_slot_stays_small() {
        let slot = std::mem::size_of::<super::Slot>();
        // Measured 48 B (64 B with the multishot results' `VecDeque` inline).
        assert!(slot <= 48, "an op slot is {slot} B");
    }
}
