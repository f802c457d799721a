//! The io_uring backend's op slots: [`SlotTable`], the slab every in-flight op has a place in.
//!
//! [`SlotTable`] is the whole slab of op slots and nothing of the ring: it hands out
//! `user_data`, applies completions to slots, takes results, keeps the data of dropped ops until
//! their final completion, and says which `user_data` to cancel. `Uring` owns one and adds the
//! ring (pushing cancels, `cancel.rs`), the counters and the wakers' hand-off. The fuzz target
//! `op_lifecycle` drives this same table (through `src/fuzz_support.rs`) with a scripted kernel,
//! so what it checks is the code the driver runs.
//!
//! # Where the table sits in a loop turn
//!
//! ```text
//!  Op first poll ──insert──▶ slot (Pending/Streaming, waker stored) ──entry pushed──▶ SQ
//!  park/enter ─────────────▶ kernel works on the op's memory
//!  dispatch (reap.rs) ─────▶ complete(user_data, cqe) ──▶ Reaped: wake / keep / free
//!  Op next poll ───────────▶ poll_result / poll_stream: take the result, free the slot
//!  Op dropped ─────────────▶ abandon: the slot takes the data until the final completion
//! ```
//!
//! # Who frees a slot
//!
//! Exactly one of: the future taking its final result (`poll_result`, the last `poll_stream`),
//! the final completion of an abandoned op (`complete` answering [`Reaped::Free`]), a drop that
//! finds the op already finished (`abandon` answering [`Dropped::Finished`]), a push that never
//! reached the queue (`remove_unsubmitted`), or shutdown giving up (`leak_in_flight`, which
//! leaks rather than frees). Every other path leaves the slot in place, because a slot freed
//! early lets its index go to a new op while the kernel may still post for, or write into, the
//! old one (hazard H1 in `docs/HAZARDS.md`).
//!
//! Nothing here runs user code: a waker is never woken or dropped inside the table (it is handed
//! out in [`Reaped`] or [`Dropped`], or through `replaced`), and abandoned data is handed back to
//! be dropped after the driver's borrow. Only `Abandoned::dispose` runs here, and the ops keep
//! that to closing fds and counting (see the ground rules in `uring/mod.rs`).

use super::super::dispose::dispose;
use super::super::lifecycle::{AfterCqe, Lifecycle};
use super::super::opcode::{Abandoned, CqeResult};
use super::super::{given_up, set_waker};
use slab::Slab;
use std::task::{Poll, Waker};

/// Generations stay below this so an op's user_data never collides with a reserved token (those
/// have the top bit set, see `uring/mod.rs`).
///
/// 31 bits, not 32, is what lets `dispatch` tell a token from an op by value before touching
/// the slab; the index keeps the low 32 bits, far more than the slots a ring can have in flight.
const GENERATION_MASK: u32 = 0x7fff_ffff;

/// One op's place in the table.
///
/// Kept to 48 B (tested below): every armed receive of an idle connection has one, and the
/// slab doubles as it grows, so each byte here is up to two per connection.
struct Slot {
    /// The table's generation when this slot was filled. A completion carries it in its
    /// `user_data`; one whose generation differs is for an earlier op in the same index (a
    /// cancel that arrived after its target finished and the index was reused) and is ignored.
    generation: u32,
    /// Where the op is and who owns its data (`lifecycle.rs`).
    lifecycle: Lifecycle,
}

impl Slot {
    /// The value the kernel echoes in every completion of this op. Built from the slot rather
    /// than stored in it: the index is the slab's key, so storing it would cost 8 B per slot.
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
    /// The slots, keyed by index. Only this file touches it, so every way a slot goes is in
    /// the "Who frees a slot" list above.
    slots: Slab<Slot>,
    /// Bumped per insert, wrapping below 2^31. A stale `user_data` could only match again after
    /// 2^31 inserts *and* the same index: a late cancel is never outstanding that long.
    generation: u32,
}

/// What one completion did to the table; `dispatch` (`reap.rs`) acts on it.
///
/// The table decides, the driver acts: waking, cancelling and burying happen in the driver
/// because they need the ring or must wait until the driver's borrow ends.
pub(crate) enum Reaped {
    /// No slot has this `user_data` (freed, or reused by a newer generation). With every slot
    /// freed only after its final completion, this is a coring or kernel bug (or a completion
    /// after shutdown leaked the slot); `dispatch` asserts it in debug builds and otherwise
    /// ignores it, since acting on it could only touch another op.
    Unknown,
    /// The slot's op already had its final completion (a kernel bug): ignored, for the reason
    /// `Unknown` is; [`Lifecycle::on_cqe`] would panic on it, so the table checks first.
    AfterFinal,
    /// The slot stays and nobody is to be woken (a zero-copy send's first result, an abandoned
    /// op's non-final result).
    Keep,
    /// The slot stays (holding the result for the future's next poll); wake `waker`.
    Wake {
        /// The task to wake; `None` if nobody polled since the last wake (its waker was
        /// taken then).
        waker: Option<Waker>,
        /// That was the op's final completion: the `ops_in_flight` counter goes down by one.
        finished: bool,
    },
    /// As `Wake`, and the stream reached its limit of untaken results: cancel it. The cancel
    /// is not pushed from here because `dispatch` still borrows the CQ (a push may have to
    /// flush and reap), so `dispatch` queues it in `Uring::capped` for after its loop.
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
    /// send with its result only waits for the kernel to let go, and a capped stream's cancel
    /// went out at its cap: nothing to cancel). `waker` is the one the slot held.
    Kept {
        /// The `user_data` to send an `ASYNC_CANCEL` for, if a cancel can still shorten the
        /// op's life.
        cancel: Option<u64>,
        /// The waker the slot held: nobody is left to wake, and it is dropped after the
        /// borrow (a waker's `Drop` is user code).
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
    ///
    /// The slot exists before the entry does because the entry must carry `user_data`, and a
    /// completion may be reaped before the pushing poll returns (a full SQ is flushed and
    /// reaped inside a later push of the same poll), so the waker is stored here already.
    /// The generation is bumped per insert rather than per index: one counter, no per-slot
    /// history to keep for freed indices.
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
    ///
    /// A scan, not a counter kept per transition: it is asked by metrics snapshots and by
    /// shutdown, never per op, and a counter would need updating on every hot-path transition
    /// (the `ops_in_flight` counter the driver bumps is the per-op figure).
    pub(crate) fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .count()
    }

    /// Number of slots in use (in flight, or completed and not yet taken). Larger than
    /// `in_flight` by the results the kernel delivered that no future has taken yet.
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
        // The inverse of `Slot::user_data`; a reserved token never gets here (its top bit is
        // set and `dispatch` matches the tokens first).
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
            // Only an abandoned slot is freed by a completion: nobody else will come for it.
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
    ///
    /// `replaced` is an out-parameter so the caller, not this method, decides when the old
    /// waker drops: after the driver's borrow ends (`poll_in_flight` in `op_future.rs`).
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
    /// The data is boxed into `dyn Abandoned` by the caller only now: the common path (an op
    /// that completes while its future lives) never allocates for it. A capped stream gets no
    /// cancel here: its cap sent one, and the final completion it brings frees the slot.
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
                dispose(&mut *data, cqe);
                self.slots.remove(index);
                return Dropped::Finished(data, None);
            }
            Lifecycle::Streaming {
                ready,
                finished,
                waker,
                capped,
                ..
            } => {
                let waker = waker.take();
                for cqe in ready.drain() {
                    dispose(&mut *data, &cqe);
                }
                if *finished {
                    self.slots.remove(index);
                    return Dropped::Finished(data, waker);
                }
                // A capped stream has its cancel on the way already (by its owner, its limit
                // or a scope): a second would cost an entry and a stray completion, no more.
                ((!*capped).then_some(user_data), waker)
            }
            // A zero-copy send with its result (`partial`) sent its bytes: nothing to cancel,
            // only the notification to wait for, whose buffer the slot now keeps.
            Lifecycle::Pending { partial, waker } => {
                let cancel = match partial.take() {
                    Some(cqe) => {
                        dispose(&mut *data, &cqe);
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
    /// Set right after the push, before any dispatch can reach the slot (see
    /// [`Lifecycle::set_limit`]), so no result is queued under the old, unlimited setting.
    pub(crate) fn limit_stream(&mut self, index: usize, max_waiting: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.lifecycle.set_limit(max_waiting);
        }
    }

    /// Marks the multishot op in slot `index` as capped; the `user_data` to cancel if it runs
    /// and was not capped already. Capping first and cancelling once is what keeps a stream
    /// whose results keep arriving after the cancel from sending one cancel per result.
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
    /// Collected into a `Vec` because each cancel is pushed through `&mut Uring`, which the
    /// iteration would otherwise still borrow; it runs once a second during shutdown only.
    pub(crate) fn in_flight_user_data(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .map(|(i, s)| s.user_data(i))
            .collect()
    }

    /// Asks every abandoned op's data to make the kernel let go of it (see
    /// `Abandoned::shut_down`). Only abandoned slots: an op whose future lives is the future's
    /// to end, and its data is not reachable from here.
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
    ///
    /// Completed-but-untaken slots stay: the kernel is done with them, and their futures may
    /// still take the results. The leaked slots' wakers leak too: dropping one is user code,
    /// and there is no later point where the driver could hand them out.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// Stands in for a stream's data: nothing to dispose of.
    struct Nothing;

    impl Abandoned for Nothing {
        fn dispose(&mut self, _cqe: &CqeResult) {}
    }

    /// Whether dropping a running stream asks to cancel it, after `cap` ran on its table.
    fn cancel_at_drop(cap: impl FnOnce(&mut SlotTable, usize, u64)) -> bool {
        let mut table = SlotTable::default();
        let (index, user_data) = table.insert(true, Waker::noop());
        cap(&mut table, index, user_data);
        match table.abandon(index, Box::new(Nothing)) {
            Dropped::Kept { cancel, .. } => cancel.inspect(|&c| assert_eq!(c, user_data)),
            _ => panic!("a running stream's slot must keep its data"),
        }
        .is_some()
    }

    /// A stream already sent its cancel (by its owner, its limit or a scope): dropping it then
    /// sends none, since a second would only cost an entry and a stray completion. One that
    /// was not capped is cancelled by its drop.
    #[test]
    fn a_capped_stream_dropped_sends_no_second_cancel() {
        let more = CqeResult::from_raw(1, 1 << 1); // IORING_CQE_F_MORE: the stream runs on
        assert!(cancel_at_drop(|_, _, _| {}), "not capped");
        let owner = |t: &mut SlotTable, index, _| assert!(t.cap_stream(index).is_some());
        assert!(!cancel_at_drop(owner), "capped by its owner");
        let scope = |t: &mut SlotTable, index, _| assert!(t.cancel_target(index).is_some());
        assert!(!cancel_at_drop(scope), "capped by a scope");
        let limit = |t: &mut SlotTable, index, user_data| {
            t.limit_stream(index, 1);
            assert!(matches!(
                t.complete(user_data, more),
                Reaped::WakeAndCancel(_)
            ));
        };
        assert!(!cancel_at_drop(limit), "capped by its limit");
    }

    /// Every armed op has a slot, an idle connection's receive too, and the slab grows by
    /// doubling: each byte of a slot costs up to two per connection (issue 19).
    #[test]
    fn a_slot_stays_small() {
        let slot = std::mem::size_of::<super::Slot>();
        // Measured 48 B (64 B with the multishot results' `VecDeque` inline).
        assert!(slot <= 48, "an op slot is {slot} B");
    }
}
