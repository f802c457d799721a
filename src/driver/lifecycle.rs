//! The state of one operation slot, and its transitions.
//!
//! A slot lives in the driver's slab from the moment its entry is pushed until its *final*
//! completion is reaped; its index (with a generation) is the entry's `user_data`. Who owns the
//! operation's data depends on the state:
//!
//! | state       | data owned by                  | slot freed when                         |
//! |-------------|--------------------------------|-----------------------------------------|
//! | `Pending`   | the `Op` future                | never here: the future takes the result |
//! | `Completed` | the `Op` future                | the future takes the result             |
//! | `Streaming` | the multishot future           | the future sees the end of the stream   |
//! | `Abandoned` | the slot (future was dropped)  | the final completion arrives            |
//!
//! "Final" means a completion without `IORING_CQE_F_MORE`. Single-shot ops get one completion,
//! except zero-copy send, whose first completion carries `F_MORE` and whose buffer the kernel
//! keeps reading until a second one flagged `F_NOTIF`. Multishot ops get a completion per item and
//! end at the first one without `F_MORE`, whatever its result.
//!
//! # Transitions
//!
//! ```text
//!  push ──▶ Pending ──final CQE──▶ Completed ──future takes it──▶ (slot freed)
//!   │         │  └─F_MORE CQE (zero-copy send): result kept in `partial`, stays Pending
//!   │         └─future dropped──▶ Abandoned ──final CQE──▶ (slot freed, data to graveyard)
//!   └─multishot─▶ Streaming ──CQE──▶ result queued in `ready`; no F_MORE: `finished`
//!                   │               └─`limit` results untaken: `capped`, cancel sent once
//!                   ├─future takes the last result of a finished stream──▶ (slot freed)
//!                   └─future dropped: untaken results disposed of──▶ Abandoned (or freed
//!                     at once if already finished)
//! ```
//!
//! `Completed` and `Streaming { finished: true }` are the only states the kernel is done with;
//! [`Lifecycle::in_flight`] is false for them alone, and shutdown waits until every slot is in
//! one of them (or gone). A completion for a slot in either state is a kernel or coring bug:
//! `on_cqe` panics on `Completed`, and the slot table refuses it before asking (`AfterFinal`).
//!
//! # Who touches a slot, and what each may do
//!
//! All on the runtime's thread, under the driver's borrow; the "who" is the path that runs.
//!
//! | who (where)                                | may                                                 |
//! |--------------------------------------------|-----------------------------------------------------|
//! | the push (`SlotTable::insert`)             | create `Pending`/`Streaming` with the waker          |
//! | the stream's first poll (`set_limit`)      | set `limit`, before any completion                   |
//! | `dispatch` ([`Lifecycle::on_cqe`])         | queue or store results, take the waker, set `finished`, `capped` |
//! | the future's poll (`poll_result`, `poll_stream`) | replace the waker, take results, free the slot |
//! | the future's drop (`SlotTable::abandon`)   | dispose of untaken results, move in the data         |
//! | a cancel (owner, scope; [`Lifecycle::cap`]) | set `capped`; never touches results                 |
//! | shutdown (`leak_in_flight`)                | forget in-flight slots whole                         |
//!
//! No path but the kernel's completions makes a slot's op finished, and no path but the
//! future (or the final completion of an abandoned op) frees it.
//!
//! # Hazards these states exist for
//!
//! * **A buffer freed under the kernel.** The future may go at any time (a `select!` losing
//!   arm, a timeout, a task aborted). `Abandoned` keeps the data alive until the kernel's last
//!   word; nothing else in coring may free an in-flight op's data.
//! * **A result lost with a dropped future.** An accept that completed after its future went
//!   returned a connected fd; a receive into a provided buffer took a buffer out of its ring.
//!   `Abandoned` hands every such result to the data's `dispose` (close the fd, give the buffer
//!   back), including results that were queued untaken when the future went.
//! * **Zero-copy send's buffer.** Its first completion is the send's result but the buffer is
//!   still the kernel's; `partial` holds the result back until the `F_NOTIF` completion, so
//!   the future cannot hand the buffer back (nor a dropped future's slot free it) too early.
//! * **An unbounded multishot.** A stream whose owner stopped taking results (a reader that
//!   stopped reading) would keep queueing them, each holding a provided buffer: `limit` and
//!   `capped` stop it with one cancel.
//!
//! # Why an enum of four states and not a set of flags
//!
//! Each state owns something different: a waker (and a zero-copy send's early result), a
//! final result, a queue of results, or the boxed data of a dropped op. As variants, what a
//! state may hold is checked by the compiler: an abandoned slot cannot keep a waker (nobody
//! is left to wake, and dropping it later would run user code at a bad time), a pending one
//! cannot hold data (the future has it), and every transition must move out what the old
//! state owned. Flags beside `Option` fields would allow the combinations that are bugs.
//!
//! The slot does not hold the op's data while the future lives (`op_future.rs` says why:
//! the hot path then moves and allocates nothing); `Abandoned` is the one state that does.
//!
//! This file is pure: no ring, no unsafe. The transitions are unit-tested with `Rc` payloads,
//! and the fuzz target `op_lifecycle` drives them through `uring/slots.rs`.

use super::opcode::{Abandoned, CqeResult};
use std::collections::VecDeque;
use std::task::Waker;

/// What one slot holds.
pub(crate) enum Lifecycle {
    /// In flight; the future waits with `waker` once polled. `partial` holds the first result of
    /// a zero-copy send while its notification is awaited.
    Pending {
        /// The task to wake at the final completion. Set at push (the pushing poll's waker) and
        /// replaced by every later poll from another task; `None` only once taken to be woken.
        waker: Option<Waker>,
        /// A zero-copy send's result, which arrived flagged `F_MORE`: the bytes went out but
        /// the kernel still reads the buffer. While set, the op is past cancelling (see
        /// `SlotTable::cancel_target`): only the notification is awaited.
        partial: Option<CqeResult>,
    },
    /// The final completion arrived; the future has not taken it yet. The kernel is done with
    /// the data, so nothing here needs it: the next poll takes the result and frees the slot
    /// (`SlotTable::poll_result`), and a drop instead disposes of the result (`abandon`),
    /// since it may be an fd or moved bytes nobody else will see.
    Completed(CqeResult),
    /// A multishot operation: results queue up until the stream's future takes them. Once
    /// `limit` results wait untaken the stream is `capped`: the driver cancels it, so an owner
    /// that stopped taking results cannot pile up more (each may hold a pooled buffer).
    Streaming {
        /// Results the kernel posted that the future has not taken, oldest first. Each may own
        /// a resource (a provided buffer, an accepted fd) that only the op's data can release,
        /// so a dropped stream disposes of every one. Boxed at the first result, so the slot of
        /// an armed receive that has seen nothing (an idle connection) stays small.
        ready: Results,
        /// The task to wake when a result is queued; taken (so woken once) per completion.
        waker: Option<Waker>,
        /// The kernel posted its last completion (one without `F_MORE`): nothing more comes,
        /// and the slot goes once `ready` is empty. Set by `on_cqe` only.
        finished: bool,
        /// How many untaken results make the driver cancel the stream (`u32::MAX`: never).
        /// A u32 beside the flags keeps every slot (one per armed receive) small.
        limit: u32,
        /// A cancel for this stream was sent (by the limit, `MultiOp::cancel` or a cancel
        /// scope): the results that arrive before the cancel takes effect are still queued,
        /// and each would otherwise find the limit reached and send one more cancel.
        capped: bool,
    },
    /// The future was dropped in flight: the slot keeps its data alive until the final completion
    /// and disposes of every result (closing returned fds, recycling provided buffers).
    /// Entered only by `SlotTable::abandon`, left only by the final completion (the slot is
    /// freed and the data goes to the graveyard) or by shutdown giving up (leaked).
    Abandoned(Box<dyn Abandoned>),
}

/// The results of a multishot op waiting to be taken. Nothing is allocated until the first
/// one arrives: a `VecDeque` inline is 32 B, and every armed receive of an idle connection
/// has a slot, so boxing it keeps each slot 16 B smaller (48 B instead of 64). The box is
/// made once per armed op, at its first result, not per result.
#[derive(Default)]
#[allow(clippy::box_collection)]
pub(crate) struct Results(Option<Box<VecDeque<CqeResult>>>);

impl Results {
    /// Queues a result, allocating the queue at the first one; the queue is kept (not freed
    /// when emptied) for the rest of the op, so a busy stream allocates once.
    fn push_back(&mut self, cqe: CqeResult) {
        self.0.get_or_insert_with(Box::default).push_back(cqe);
    }

    /// The oldest result waiting.
    pub(crate) fn pop_front(&mut self) -> Option<CqeResult> {
        self.0.as_mut()?.pop_front()
    }

    /// Whether no result waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many results wait.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |queue| queue.len())
    }

    /// Takes every waiting result, oldest first: a dropped stream hands each to `dispose`, so
    /// no buffer or fd in the queue is lost with it.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = CqeResult> + '_ {
        self.0.iter_mut().flat_map(|queue| queue.drain(..))
    }
}

/// What the driver must do after a completion was applied to a slot. `SlotTable::complete`
/// (`uring/slots.rs`) turns it into a `Reaped` that `dispatch` acts on; the split keeps this
/// file free of the slab, so its transitions can be tested alone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterCqe {
    /// The slot stays; nothing to wake.
    Keep,
    /// The slot stays; wake its waiter (the waker was taken out for that).
    Wake,
    /// As `Wake`, and the stream reached its limit of untaken results: cancel it.
    WakeAndCancel,
    /// The slot's final completion arrived and nobody waits for it: free the slot.
    Free,
}

impl Lifecycle {
    /// A slot with nobody waiting yet (the transitions' tests start here).
    #[cfg(test)]
    pub(crate) fn new(multishot: bool) -> Self {
        if multishot {
            Lifecycle::Streaming {
                ready: Results::default(),
                waker: None,
                finished: false,
                limit: u32::MAX,
                capped: false,
            }
        } else {
            Lifecycle::Pending {
                waker: None,
                partial: None,
            }
        }
    }

    /// A slot just pushed, its future waiting with `waker` (built in place: the push path). The
    /// waker is stored before the kernel sees the entry, so a completion reaped in the same turn
    /// (even by a flush inside a later push) finds someone to wake.
    pub(crate) fn waiting(multishot: bool, waker: Waker) -> Self {
        if multishot {
            Lifecycle::Streaming {
                ready: Results::default(),
                waker: Some(waker),
                finished: false,
                limit: u32::MAX,
                capped: false,
            }
        } else {
            Lifecycle::Pending {
                waker: Some(waker),
                partial: None,
            }
        }
    }

    /// Whether the kernel may still post completions for this slot: the count shutdown waits to
    /// see reach zero, and the slots it sends cancels to. An `Abandoned` slot is always in
    /// flight: it is freed by its final completion, never observed after it.
    pub(crate) fn in_flight(&self) -> bool {
        match self {
            Lifecycle::Pending { .. } | Lifecycle::Abandoned(_) => true,
            Lifecycle::Streaming { finished, .. } => !finished,
            Lifecycle::Completed(_) => false,
        }
    }

    /// Sets how many results a multishot op may have waiting untaken before it is cancelled.
    /// Called right after the push, before any completion can be reaped: reaping takes a
    /// dispatch, and none runs between the push and this call. At least 1: a limit of 0 would
    /// act as 1 anyway (the first result queued reaches it), and 0 reads like "no limit".
    pub(crate) fn set_limit(&mut self, max_waiting: usize) {
        if let Lifecycle::Streaming { limit, .. } = self {
            *limit = max_waiting.clamp(1, u32::MAX as usize) as u32;
        }
    }

    /// Marks a running multishot op as capped; `true` if the caller must now cancel it (it was
    /// neither finished nor capped already). A finished stream needs no cancel (the kernel is
    /// done), and a capped one has one on its way; either way a second would be wasted.
    pub(crate) fn cap(&mut self) -> bool {
        match self {
            Lifecycle::Streaming {
                finished, capped, ..
            } if !*finished && !*capped => {
                *capped = true;
                true
            }
            _ => false,
        }
    }

    /// Applies one completion. A waker to wake is moved into `wake` (not woken: the driver is
    /// borrowed, see `uring/mod.rs`). The caller has checked the slot is [`in_flight`]; a
    /// completion for a `Completed` slot panics, as it means two final completions.
    ///
    /// [`in_flight`]: Lifecycle::in_flight
    pub(crate) fn on_cqe(&mut self, cqe: CqeResult, wake: &mut Option<Waker>) -> AfterCqe {
        let more = cqe.has_more();
        match self {
            Lifecycle::Pending { waker, partial } => {
                if more {
                    // Zero-copy send: the result is known but the buffer is still the kernel's.
                    *partial = Some(cqe);
                    return AfterCqe::Keep;
                }
                // The notification's own result says nothing of the send (0, or with
                // `REPORT_USAGE` whether the kernel copied after all): the send's result is the
                // one kept in `partial`. A notification with no `partial` cannot happen: the
                // kernel posts one only after a first completion flagged `F_MORE` (which a send
                // that failed at the socket carries too; one refused before its notification was
                // set up completes once, without `F_MORE`, and never gets here); it stands in.
                let result = if cqe.is_notification() {
                    partial.take().unwrap_or(cqe)
                } else {
                    cqe
                };
                *wake = waker.take();
                *self = Lifecycle::Completed(result);
                AfterCqe::Wake
            }
            Lifecycle::Streaming {
                ready,
                waker,
                finished,
                limit,
                capped,
            } => {
                if !more {
                    *finished = true;
                }
                // Queued even when capped: the results that beat the cancel are real (bytes
                // received, connections accepted) and their owner still takes them.
                ready.push_back(cqe);
                *wake = waker.take();
                if !*finished && !*capped && ready.len() >= *limit as usize {
                    *capped = true;
                    return AfterCqe::WakeAndCancel;
                }
                AfterCqe::Wake
            }
            Lifecycle::Abandoned(data) => {
                // Every result, final or not: a multishot accept's fds, each receive's buffer.
                super::dispose::dispose(&mut **data, &cqe);
                if more {
                    AfterCqe::Keep
                } else {
                    AfterCqe::Free
                }
            }
            Lifecycle::Completed(_) => {
                unreachable!("coring driver: a completion arrived for a slot that had completed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    const MORE: u32 = 1 << 1; // IORING_CQE_F_MORE
    const NOTIF: u32 = 1 << 3; // IORING_CQE_F_NOTIF

    /// Stands in for an op's data: the `Rc`'s count shows whether the slot still holds it
    /// (the kernel's memory is alive), `disposed` how many results it was handed.
    struct Payload {
        _keep: Rc<()>,
        disposed: Rc<std::cell::Cell<u32>>,
    }

    impl Abandoned for Payload {
        fn dispose(&mut self, _cqe: &CqeResult) {
            self.disposed.set(self.disposed.get() + 1);
        }
    }

    fn cqe(res: i32, flags: u32) -> CqeResult {
        CqeResult::from_raw(res, flags)
    }

    /// The common case: one final completion makes the slot `Completed` and wakes the waiter.
    #[test]
    fn single_shot_completes_on_first_cqe() {
        let mut slot = Lifecycle::new(false);
        let mut wake = None;
        assert!(slot.in_flight());
        assert_eq!(slot.on_cqe(cqe(5, 0), &mut wake), AfterCqe::Wake);
        assert!(matches!(slot, Lifecycle::Completed(ref r) if r.result.as_ref().ok() == Some(&5)));
        assert!(!slot.in_flight());
    }

    /// H8: the send's result arrives first, flagged `F_MORE`; the op stays in flight (its
    /// buffer is the kernel's) until `F_NOTIF`, and the result handed out is the send's, not
    /// the notification's 0.
    #[test]
    fn zero_copy_send_waits_for_its_notification() {
        let mut slot = Lifecycle::new(false);
        let mut wake = None;
        assert_eq!(slot.on_cqe(cqe(100, MORE), &mut wake), AfterCqe::Keep);
        assert!(
            slot.in_flight(),
            "the buffer is the kernel's until the notification"
        );
        assert_eq!(slot.on_cqe(cqe(0, NOTIF), &mut wake), AfterCqe::Wake);
        match slot {
            Lifecycle::Completed(r) => assert_eq!(r.result.unwrap(), 100),
            _ => panic!("not completed"),
        }
    }

    /// H1 and H5: a dropped op's data survives a non-final completion, every result is
    /// disposed of (an fd closed, a buffer returned), and the data goes only at the final one.
    #[test]
    fn abandoned_data_lives_until_the_final_cqe() {
        let keep = Rc::new(());
        let disposed = Rc::new(std::cell::Cell::new(0));
        let payload = Payload {
            _keep: keep.clone(),
            disposed: disposed.clone(),
        };
        let mut slot = Lifecycle::Abandoned(Box::new(payload));
        let mut wake = None;
        assert_eq!(Rc::strong_count(&keep), 2);
        assert_eq!(slot.on_cqe(cqe(1, MORE), &mut wake), AfterCqe::Keep);
        assert_eq!(
            Rc::strong_count(&keep),
            2,
            "freed before the final completion"
        );
        assert_eq!(
            slot.on_cqe(cqe(-libc::ECANCELED, 0), &mut wake),
            AfterCqe::Free
        );
        assert_eq!(disposed.get(), 2, "every result is disposed of");
        drop(slot);
        assert_eq!(Rc::strong_count(&keep), 1);
    }

    /// H6 and H7: items queue in order, and the first completion without `F_MORE` ends the
    /// stream whatever its result (`ENOBUFS` here, which is not end of file).
    #[test]
    fn multishot_queues_results_and_ends_without_more() {
        let mut slot = Lifecycle::new(true);
        let mut wake = None;
        assert_eq!(slot.on_cqe(cqe(1, MORE), &mut wake), AfterCqe::Wake);
        assert_eq!(slot.on_cqe(cqe(2, MORE), &mut wake), AfterCqe::Wake);
        assert!(slot.in_flight());
        assert_eq!(
            slot.on_cqe(cqe(-libc::ENOBUFS, 0), &mut wake),
            AfterCqe::Wake
        );
        assert!(!slot.in_flight());
        match slot {
            Lifecycle::Streaming {
                ready, finished, ..
            } => {
                assert!(finished);
                assert_eq!(ready.len(), 3);
            }
            _ => panic!("not streaming"),
        }
    }

    /// The limit asks for one cancel, not one per result past it, and a finished stream asks
    /// for none.
    #[test]
    fn a_stream_with_too_many_untaken_results_is_cancelled_once() {
        let mut slot = Lifecycle::new(true);
        slot.set_limit(2);
        let mut wake = None;
        assert_eq!(slot.on_cqe(cqe(1, MORE), &mut wake), AfterCqe::Wake);
        assert_eq!(
            slot.on_cqe(cqe(2, MORE), &mut wake),
            AfterCqe::WakeAndCancel
        );
        assert_eq!(slot.on_cqe(cqe(3, MORE), &mut wake), AfterCqe::Wake);
        assert!(!slot.cap(), "already capped");
        assert_eq!(
            slot.on_cqe(cqe(-libc::ECANCELED, 0), &mut wake),
            AfterCqe::Wake
        );
        assert!(!slot.in_flight());
        assert!(!slot.cap(), "a finished stream needs no cancel");
    }

    /// Two final completions for one slot would mean the slot was reused under a live op;
    /// the state machine refuses loudly rather than hand a result to the wrong future.
    #[test]
    #[should_panic(expected = "had completed")]
    fn a_second_final_cqe_is_a_bug() {
        let mut slot = Lifecycle::new(false);
        let mut wake = None;
        slot.on_cqe(cqe(0, 0), &mut wake);
        slot.on_cqe(cqe(0, 0), &mut wake);
    }
}
