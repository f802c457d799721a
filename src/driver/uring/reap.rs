//! The io_uring backend's reaping: dispatching completions to slots, and shutdown.
//!
//! `dispatch` runs once per loop turn, right after the turn's enter, and empties the CQ: a
//! completion left there takes a CQ entry that a later completion may need, and once the CQ is
//! full the kernel holds the rest in its overflow list (NODROP), where they cost memory and an
//! extra enter to move back in. Each CQE is either one of the reserved tokens (`uring/mod.rs`),
//! handled here, or an op's, handed to its slot. Nothing is woken and nothing is freed here:
//! wakers and dead data are collected for the runtime (see the ground rules in `uring/mod.rs`).
//!
//! With `DEFER_TASKRUN` (the default mode, `setup.rs`) the kernel posts completions only while
//! this thread is inside `io_uring_enter`, so the CQ cannot change under `dispatch`: what one
//! `sync` shows is what the last enter produced. On other modes completions land at any time;
//! those that arrive during the loop are reaped by it too, or by the next turn.
//!
//! # Shutdown, round by round
//!
//! Shutdown is a loop of rounds (`shutdown_step`) rather than one blocking call so the runtime
//! can wake tasks and drop dead data between rounds, outside the driver's borrow. Each round:
//!
//! 1. pushes are refused from now on (`shut_down`), so the set of ops to wait for only shrinks;
//! 2. every op in flight is sent a cancel: in the first round, then once a second, because a
//!    cancel may find an op running in a kernel worker (`EALREADY`) that does not stop at
//!    once; the wake poll gets one, in the first round only (it owns no memory to wait for);
//! 3. past `LET_GO_AFTER`, abandoned ops that no cancel ends (a zero-copy send waiting for a
//!    peer's acknowledgement) are told to make the kernel let go (`Abandoned::shut_down`);
//! 4. past `CLOSES_CANCELLED_AFTER`, detached closes still in flight get one cancel, and those
//!    it stopped unrun are closed on a thread of their own (`close.rs`): a close blocked in a
//!    hung filesystem holds the drop for a second, not to the deadline;
//! 5. it waits up to 50 ms for completions and dispatches them, as a turn would;
//! 6. past `SHUTDOWN_DEADLINE`, or if the ring fails, whatever is still in flight is leaked,
//!    never freed: the kernel may still write it (invariant 3 in `docs/ARCHITECTURE.md`).
//!
//! Only then may the ring go: closing its fd is not documented as waiting for in-flight work,
//! so the ring is never the thing that makes memory safe to free.

use super::super::opcode::{Abandoned, CqeResult};
use super::super::{drain_eventfd, fork, Park};
use super::close::{close_cancelled, closed_fd, closes_cancel_answered};
use super::slots::Reaped;
use super::{
    msg_sent_target, Uring, CANCEL_TOKEN, CLOSES_CANCEL_TOKEN, LET_GO_AFTER, MSG_WAKE_TOKEN,
    SHUTDOWN_DEADLINE, WAKE_TOKEN,
};
use std::mem::ManuallyDrop;
use std::task::Waker;
use std::time::{Duration, Instant};

impl Uring {
    /// Reaps every available completion, applying each to its slot. Wakers to wake are collected
    /// for [`Driver::take_woken`].
    ///
    /// Also called in the middle of a push when the SQ is full (`push_entry`), and by
    /// `push_msg_ring` to see a refusal at once, so it assumes nothing of the turn: what it
    /// collects waits in `woken`, `graveyard` and `failed_wakes` until the runtime takes them,
    /// and `park` does not sleep while `woken` holds anything (a wake-up found mid-push must
    /// not wait for the kernel's next completion).
    ///
    /// [`Driver::take_woken`]: super::super::Driver::take_woken
    pub(crate) fn dispatch(&mut self) {
        if self.check_owner().is_err() {
            // A fork child: the completion queue is the parent's (and not even mapped here).
            return;
        }
        // The wake poll is re-armed after the loop: arming pushes an entry, which may need to
        // flush and reap, which cannot happen while the CQ is borrowed here.
        let mut rearm_wake = false;
        // `IORING_SQ_CQ_OVERFLOW`: the kernel holds completions that did not fit. Counted (a
        // sign the CQ is too small for the load); the enter that follows a reap moves them in.
        if self.ring.submission().cq_overflow() {
            self.counters.cq_overflows.bump();
        }
        // Counted in locals and published once after the loop: a store to the shared counters
        // inside it would cost a memory round trip per completion.
        let (mut reaped, mut finished, mut enobufs) = (0u64, 0u64, 0u64);
        let mut cq = self.ring.completion();
        cq.sync();
        for cqe in &mut cq {
            reaped += 1;
            let user_data = cqe.user_data();
            let result = cqe.result();
            // A provided-buffer group ran dry (H7): back-pressure, not a failure, but worth a
            // metric, since a stream that keeps meeting it needs more or larger buffers.
            enobufs += u64::from(result == -libc::ENOBUFS);
            match user_data {
                CANCEL_TOKEN => {
                    // 0: the target was found and cancelled; EALREADY: it was running and was
                    // asked to stop. Either way its own completion is still to come. ENOENT:
                    // it had finished already (a race the generation check makes harmless).
                    if result >= 0 || result == -libc::EALREADY {
                        self.counters.cancels_in_flight.bump();
                    }
                    continue;
                }
                MSG_WAKE_TOKEN => {
                    self.counters.msg_ring_received.bump();
                    continue;
                }
                CLOSES_CANCEL_TOKEN => {
                    self.closes_cancel = closes_cancel_answered(result);
                    continue;
                }
                WAKE_TOKEN => {
                    // Drained so the counter never nears its limit (where a waking thread's
                    // write would fail) and a re-armed poll does not fire for wake-ups that
                    // were already handled.
                    if let Some(fd) = self.wake_fd {
                        drain_eventfd(fd);
                    }
                    // A multishot poll refused with `EINVAL`: a kernel before 5.13. The re-arm
                    // below, and every one after, is single-shot for the life of the ring; the
                    // refused multishot poll would fail again at every turn (a core spinning).
                    if result == -libc::EINVAL && self.wake_multishot {
                        self.wake_multishot = false;
                        self.counters.set_wake_poll_multishot(false);
                    }
                    if !io_uring::cqueue::more(cqe.flags()) && !self.shut_down {
                        rearm_wake = true;
                    }
                    continue;
                }
                _ if let Some(fd) = closed_fd(user_data) => {
                    self.closes_in_flight = self.closes_in_flight.saturating_sub(1);
                    close_cancelled(fd, result, self.shut_down, &mut self.orphaned_closes);
                    continue;
                }
                // Only refused wake-ups complete (`SKIP_SUCCESS`): the target would sleep on.
                _ if let Some(target) = msg_sent_target(user_data) => {
                    self.counters.msg_ring_failed.bump();
                    self.failed_wakes.push(target);
                    continue;
                }
                _ => {}
            }
            // Every slot a completion reaches is in flight; which completion is its last shows
            // in the outcome (an abandoned op's slot is freed still in its in-flight state).
            match self
                .slots
                .complete(user_data, CqeResult::from_raw(result, cqe.flags()))
            {
                Reaped::Keep => {}
                // A plain push, not `extend(Option)`: the iterator path costs ~35 instructions
                // per completion.
                Reaped::Wake { waker, finished: f } => {
                    finished += u64::from(f);
                    if let Some(waker) = waker {
                        self.woken.push(waker);
                    }
                }
                Reaped::WakeAndCancel(waker) => {
                    if let Some(waker) = waker {
                        self.woken.push(waker);
                    }
                    self.capped.push(user_data);
                }
                Reaped::Free(data) => {
                    finished += 1;
                    self.graveyard.push(data);
                }
                Reaped::Unknown | Reaped::AfterFinal => {
                    debug_assert!(
                        false,
                        "coring driver: completion for an unknown or finished slot {user_data:#x}"
                    );
                }
            }
        }
        // The kernel's count of completions it could not keep at all (NODROP failing to
        // allocate): each is an op whose slot will never be freed. Published, not acted on:
        // nothing can bring a dropped completion back. Not the same as `cq_overflows` above,
        // which counts turns that found completions *kept* in the overflow list (H4 handled);
        // this one counts completions lost (H4 not handled, the kernel out of memory).
        self.counters.cq_dropped.set(u64::from(cq.overflow()));
        drop(cq);
        let counters = &self.counters;
        counters.completions.add(reaped);
        counters.enobufs.add(enobufs);
        counters.ops_in_flight.sub(finished);
        // Streams that reached their limit of untaken results: cancelled only now, because a
        // push may flush and reap, which needs the CQ this loop borrowed.
        while let Some(user_data) = self.capped.pop() {
            self.push_cancel(user_data);
        }
        if rearm_wake {
            self.counters.multishot_rearms.bump();
            if let Some(fd) = self.wake_fd {
                // Failing to re-arm only costs latency of remote wakes until the next turn.
                let _ = self.arm_wake_fd(fd);
            }
        }
    }

    /// Moves the collected wakers into `out` (the caller wakes them after the borrow ends).
    pub(crate) fn take_woken(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.woken);
    }

    /// Moves the ids of runtimes whose `MSG_RING` wake-up the kernel refused into `out`: the
    /// caller wakes them through their eventfd (see [`Uring::push_msg_ring`]).
    pub(crate) fn take_failed_wakes(&mut self, out: &mut Vec<usize>) {
        out.append(&mut self.failed_wakes);
    }

    /// Moves the data of finished abandoned ops into `out`, to be dropped after the borrow ends.
    pub(crate) fn take_graveyard(&mut self, out: &mut Vec<Box<dyn Abandoned>>) {
        out.append(&mut self.graveyard);
    }

    /// One round of shutdown: cancel what is in flight (first round, then every second), wait a
    /// little, reap. Returns `true` once nothing is left in flight. See the module docs for the
    /// order and the deadlines.
    ///
    /// Completed slots whose results no future took are not waited for: the kernel is done
    /// with them, and their data is the futures' (or was handed back at `abandon`).
    pub(crate) fn shutdown_step(
        &mut self,
        started: Instant,
        last_cancel: &mut Option<Instant>,
    ) -> bool {
        let done = self.shutdown_round(started, last_cancel);
        if done {
            self.hand_off_orphaned_closes();
        }
        done
    }

    /// [`Uring::shutdown_step`] but for handing off the closes it cancelled.
    fn shutdown_round(&mut self, started: Instant, last_cancel: &mut Option<Instant>) -> bool {
        self.shut_down = true;
        if self.check_owner().is_err() {
            // A fork child: the parent's kernel state is not ours to cancel or reap, and the
            // kernel never writes this process's copies of the op data, so they may be freed.
            return true;
        }
        // Shutdown waits for cancels, not for throughput: a batched wait would hold each round
        // for the whole minimum wait (or the round's timeout) however soon the cancels land.
        self.batch = None;
        // Closes with nobody waiting are waited for too (for a while: `close.rs`): the ring's
        // teardown would cancel any still queued for a kernel worker, and leave their fds open.
        if self.in_flight() == 0 && !self.closes_pending() {
            // Wake-ups for other rings still queued must go out.
            if let Err(err) = self.flush() {
                eprintln!("{err}");
            }
            return true;
        }
        let now = Instant::now();
        // Cancels are re-sent every second: a cancel is a request, and an op already running in
        // a kernel worker (`EALREADY`) may run on past the first one.
        if last_cancel.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            *last_cancel = Some(now);
            for user_data in self.slots.in_flight_user_data() {
                self.push_cancel(user_data);
            }
            if self.wake_fd.take().is_some() {
                self.push_cancel(WAKE_TOKEN);
            }
        }
        if now.duration_since(started) >= LET_GO_AFTER {
            // Some abandoned ops outlast any cancel (a zero-copy send's buffer stays the
            // kernel's until a stalled peer acknowledges it): they make the kernel let go.
            self.slots.shut_down_abandoned();
        }
        if now.duration_since(started) >= SHUTDOWN_DEADLINE {
            self.leak_in_flight();
            return true;
        }
        self.cancel_slow_closes(now.duration_since(started));
        if let Err(err) = self.enter(Park::Timeout(Duration::from_millis(50))) {
            // The ring is unusable: nothing more will complete, so leak rather than free.
            eprintln!("coring: shutdown could not reap completions ({err}); leaking op memory");
            self.leak_in_flight();
            return true;
        }
        self.dispatch();
        self.count_closes_round();
        // The wakers of ops completed at shutdown stay in `woken`: the caller takes them
        // (`take_woken`) and drops them after the borrow, as it does every turn.
        self.in_flight() == 0 && !self.closes_pending()
    }

    /// Gives up on ops the kernel has not finished: their memory is leaked, never freed, because
    /// the kernel may still write to it.
    fn leak_in_flight(&mut self) {
        let leaked = self.slots.leak_in_flight();
        eprintln!(
            "coring: {leaked} operations and {} closes did not finish at shutdown; leaking their \
             memory (and the fds, if their closes never run)",
            self.closes_in_flight
        );
        self.counters.ops_in_flight.sub(leaked as u64);
        // Given up on too: a later shutdown (the ring's own drop after the runtime's) must not
        // wait for them all over again.
        self.closes_in_flight = 0;
    }
}

/// The last line of invariant 3: whatever shutdown the runtime ran, the ring is not dropped
/// while the kernel may still complete an op whose memory coring would free; whatever is
/// left by then has been leaked.
impl Drop for Uring {
    fn drop(&mut self) {
        // Normally the runtime has already run shutdown; this covers a driver built without one.
        // The loop is bounded: `shutdown_step` says done at `SHUTDOWN_DEADLINE` at the latest.
        let started = Instant::now();
        let mut last_cancel = None;
        while !self.shutdown_step(started, &mut last_cancel) {}
        // Not borrowed any more (the cell is being dropped): user code may run here.
        self.woken.clear();
        self.graveyard.clear();
        if fork::forked_since(self.forks) {
            // A fork child has none of the ring's mappings (`MADV_DONTFORK`), and a mapping of
            // its own (a ring it built since, the allocator's) may sit at their addresses now:
            // unmapping them would pull that out from under its owner. Only the fd is the
            // child's to close; its table of registered rings holds nothing of the parent's.
            // SAFETY: closes the child's copy of the ring fd, which nothing uses any more (the
            // ring value is never touched again: it is not dropped).
            unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(&*self.ring)) };
            return;
        }
        // The registration holds the ring: without this, the ring would outlive its drop until
        // the thread exits.
        self.enter_fd.unregister();
        // Only now may the ring (and with it the kernel's view of these slots) go away.
        // SAFETY: dropped once, here, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.ring) };
    }
}
