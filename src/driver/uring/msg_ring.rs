//! Waking another runtime's ring with `MSG_RING`, and the fallback when the kernel refuses.
//!
//! A task on this thread may wake a task of another runtime (a cross-core channel send, a
//! `JoinHandle` of a task spawned elsewhere). The other runtime may be asleep in
//! `io_uring_enter`; something must end that wait. The eventfd every runtime watches does, at
//! the cost of a `write` here and, on the other side, a poll completion plus a `read` to drain
//! the counter. `IORING_OP_MSG_RING` instead posts a completion straight into the target's CQ
//! (`user_data` `MSG_WAKE_TOKEN`), which ends its wait with no syscall on its side.
//!
//! The catch is that the kernel may refuse the message (the target's CQ overflowing, the
//! target ring gone, memory), and a refused wake-up is a task that sleeps forever. So the entry
//! is sent `SKIP_SUCCESS` with a `user_data` naming the target (`MSG_SENT_TAG` | its id):
//! success posts nothing here, a refusal posts a completion that `dispatch` turns into an
//! entry of `failed_wakes`, and the runtime then writes the target's eventfd instead. Every
//! path where a refusal could go unseen (a submit the kernel put off, an SQPOLL ring submitting
//! after this call returned) answers `Err` at once, so the caller uses the eventfd right away.

#[cfg(feature = "fault-injection")]
use super::super::faults;
use super::super::Park;
use super::setup::RingMode;
use super::{Uring, MSG_SENT_MASK, MSG_SENT_TAG, MSG_WAKE_TOKEN};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::RawFd;

impl Uring {
    /// The ring's fd, for other rings to post wake-ups to with `MSG_RING`. Published by the
    /// runtime in its shared state while it runs (and cleared before the ring goes), so a
    /// sender never targets a closed ring's number, which may name another file by then.
    pub(crate) fn ring_fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.ring.as_raw_fd()
    }

    /// Posts a wake-up completion on another ring with `MSG_RING`. The target gets a completion
    /// straight into its queue: no eventfd read on its side.
    ///
    /// `target_id` names the target for the fallback: if the kernel refuses the message (an
    /// error completion, say `ENOMEM` or `EOVERFLOW`), the caller must wake the target through
    /// its eventfd instead. The kernel issues `MSG_RING` as this call submits it, so a refusal
    /// is an `Err` here; so is a submit the kernel put off (`EBUSY`, `EAGAIN`), whose refusal
    /// would come later, from [`Uring::take_failed_wakes`] when this ring next reaps.
    ///
    /// A kernel without `MSG_RING` (before 5.18, `probe.rs`) gets none either: an `Err` at
    /// once, without an entry.
    ///
    /// An SQPOLL ring sends none (an `Err`, so the caller writes the eventfd): its kernel
    /// thread submits the message after this call returns, so a refusal would only be seen
    /// when this thread next reaps, which it may never do (its `block_on` returning).
    pub(crate) fn push_msg_ring(&mut self, target_ring: RawFd, target_id: usize) -> io::Result<()> {
        // A ring shutting down may already have reaped for the last time: a refusal posted
        // now would never be seen, so the caller uses the eventfd.
        if self.shut_down {
            return Err(super::super::shutting_down());
        }
        if self.mode == RingMode::SqPoll {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "coring: an SQPOLL ring wakes other rings through their eventfd",
            ));
        }
        // Before Linux 5.18 the opcode does not exist: every message would be refused, a
        // wasted entry and enter before the eventfd write that wakes the target anyway.
        if super::probe::kernel_lacks(opcode::MsgRingData::CODE) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "coring: this kernel has no MSG_RING (Linux 5.18); waking through the eventfd",
            ));
        }
        // A scripted refusal: a target that is no ring, which the kernel itself fails.
        #[cfg(feature = "fault-injection")]
        let target_ring = if faults::take_failed_msg_ring() {
            -1
        } else {
            target_ring
        };
        let entry = opcode::MsgRingData::new(types::Fd(target_ring), 0, MSG_WAKE_TOKEN, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS);
        self.push_entry(&entry.user_data(msg_sent_user_data(target_id)))?;
        self.counters.msg_ring_sent.bump();
        // Submit now: the waking task may keep this core busy for a long time, or this thread
        // may be about to block outside the loop (joining workers). A submit-only enter is one
        // syscall, like the eventfd write it replaces, and also carries anything else queued.
        self.enter(Park::NoWait)?;
        let mut sq = self.ring.submission();
        sq.sync();
        if !sq.is_empty() {
            // The kernel put the submit off (`EBUSY`, `EAGAIN`): a refusal would come only with
            // a later one, perhaps the last this thread makes. The eventfd wakes the target now;
            // the message, if it goes out later, is one more harmless wake-up.
            return Err(io::Error::other(
                "coring: the MSG_RING wake-up was not submitted",
            ));
        }
        drop(sq);
        // A refusal is already in the completion queue. It must be acted on now: this thread may
        // never reap again (its `block_on` returning, its runtime shutting down), and the target
        // would sleep on. Only a non-empty queue costs a reap (successes post nothing here).
        if !self.ring.completion().is_empty() {
            // A full reap, not a peek: other completions found on the way are applied as in
            // any dispatch, their wakers left in `woken` for this turn.
            self.dispatch();
            if let Some(at) = self.failed_wakes.iter().position(|&id| id == target_id) {
                self.failed_wakes.swap_remove(at);
                return Err(io::Error::other(
                    "coring: the kernel refused a MSG_RING wake-up",
                ));
            }
        }
        Ok(())
    }
}

/// The `user_data` of a `MSG_RING` wake-up sent to the runtime with id `target_id`.
///
/// The id rides in the low 62 bits so a refusal names its target without a table of sent
/// messages: nothing to allocate per wake-up, nothing to clean up for the successes, which
/// post no completion here at all (`SKIP_SUCCESS`). Runtime ids only grow; one past 2^62
/// would alias an earlier id, far beyond any process's life.
pub(super) fn msg_sent_user_data(target_id: usize) -> u64 {
    MSG_SENT_TAG | (target_id as u64 & !MSG_SENT_MASK)
}

/// The target's id, if `user_data` is that of a `MSG_RING` wake-up this ring sent.
pub(super) fn msg_sent_target(user_data: u64) -> Option<usize> {
    (user_data & MSG_SENT_MASK == MSG_SENT_TAG).then_some((user_data & !MSG_SENT_MASK) as usize)
}
