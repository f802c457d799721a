//! The driver: one io_uring and the slab of operation slots behind it.
//!
//! # Ground rules
//!
//! * **A pushed entry is the kernel's.** Once an entry is in the submission queue, its slot (and,
//!   through the `Op` or the slot, the memory it points at) stays until its final completion is
//!   reaped, whatever `io_uring_enter` returns. Nothing here ever removes a slot because a submit
//!   failed.
//! * **`user_data` = generation << 32 | slab index.** Reserved values have the top bit set and are
//!   declared once, below. The generation makes a late cancel harmless even if the slab index was
//!   reused.
//! * **Batching.** `push` only writes the entry; the loop's `park` submits the whole turn's batch
//!   with the same `io_uring_enter` that waits. A full queue is flushed and the push retried.
//! * **Borrows.** The driver lives in a `RefCell` on its thread, and no user code may run while
//!   it is borrowed: that code could drop an in-flight op, whose `abandon` needs the driver.
//!   User code here means any `Waker` (waking it, and also *dropping* it: a user's waker may own
//!   anything) and op data (buffers). So wakers to wake are collected and woken by the runtime
//!   after the borrow ends; a waker replaced or released (`poll_result`, `poll_stream`,
//!   `abandon`, shutdown) is handed back to the caller to drop after the borrow; dead op data
//!   goes to a graveyard the runtime empties outside the borrow too. `dispose` does run under
//!   the borrow, so the ops' `dispose` must not run user code either (closing an fd, counting
//!   lost bytes; provided buffers are held until the data is dropped, see `op/recv_multi.rs`).
//!   As a last line, an `Op` dropped while the driver is borrowed anyway leaks its data rather
//!   than free memory the kernel may still write (`op.rs`).
//! * **Shutdown** cancels every in-flight op and reaps until none is left; if the kernel does not
//!   finish within a bound, the remaining op data is leaked, never freed.
//!
//! The driver knows nothing of tasks or timers: it is told when to park and for how long.

pub(crate) mod cancel_scope;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub(crate) mod fork;
mod lifecycle;
pub(crate) mod op;
mod register;
mod setup;

pub use setup::RingMode;
pub(crate) use setup::{CompletionBatch, RingConfig};

use crate::counters::Counters;
use io_uring::{opcode, squeue, types, IoUring};
use lifecycle::{AfterCqe, Lifecycle};
#[cfg(fuzzing)]
pub(crate) use lifecycle::{AfterCqe as FuzzAfterCqe, Lifecycle as FuzzLifecycle};
use op::{Abandoned, CqeResult};
use slab::Slab;
use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The cancel entries' own completions.
const CANCEL_TOKEN: u64 = u64::MAX;
/// The multishot poll on the runtime's wake eventfd.
const WAKE_TOKEN: u64 = u64::MAX - 1;
/// Fire-and-forget ops that own no memory (closing an fd).
const DETACHED_TOKEN: u64 = u64::MAX - 2;
/// A wake-up posted to this ring by another ring's `MSG_RING`.
const MSG_WAKE_TOKEN: u64 = u64::MAX - 3;
/// A `MSG_RING` wake-up this ring sent: tag bits over the target's id (low 32 bits). Only a
/// failed send completes here (`SKIP_SUCCESS`), and the id says whose eventfd to write instead.
const MSG_SENT_TAG: u64 = 0b10 << 62;
const MSG_SENT_MASK: u64 = 0b11 << 62;
/// Generations stay below this so an op's user_data never collides with a reserved token.
const GENERATION_MASK: u32 = 0x7fff_ffff;

/// How long shutdown waits for the kernel to finish cancelled ops before leaking their memory.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// How long shutdown lets abandoned ops that no cancel ends finish on their own (a healthy peer
/// acknowledges a zero-copy send in far less) before making the kernel let go of them.
const LET_GO_AFTER: Duration = Duration::from_millis(200);

pub(crate) type DriverCell = RefCell<Driver>;

struct Slot {
    generation: u32,
    lifecycle: Lifecycle,
}

/// When `park` may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Park {
    /// Submit and reap what is ready, without waiting.
    NoWait,
    /// Wait for a completion or until the timeout passes.
    Timeout(Duration),
    /// Wait for a completion.
    Forever,
}

pub(crate) struct Driver {
    ring: IoUring,
    mode: RingMode,
    slots: Slab<Slot>,
    generation: u32,
    wake_fd: Option<RawFd>,
    woken: Vec<Waker>,
    graveyard: Vec<Box<dyn Abandoned>>,
    counters: Arc<Counters>,
    /// Targets (by id) of `MSG_RING` wake-ups the kernel refused, to wake through their
    /// eventfd once the driver is not borrowed.
    failed_wakes: Vec<usize>,
    shut_down: bool,
    /// Highest buffer group id handed out so far, and the ids given back since.
    buffer_groups: u16,
    free_buffer_groups: Vec<u16>,
    batch: Option<CompletionBatch>,
    /// `fork::generation()` when the ring was made: another count means a forked child.
    forks: u64,
    /// Multishot ops that reached their limit of untaken results during a dispatch, to cancel
    /// once the completion queue is no longer borrowed.
    capped: Vec<u64>,
}

impl Driver {
    pub(crate) fn new(config: RingConfig, counters: Arc<Counters>) -> io::Result<Self> {
        let forks = fork::generation();
        let (ring, mode) = setup::build_ring(config)?;
        Ok(Driver {
            ring,
            mode,
            slots: Slab::with_capacity(64),
            generation: 0,
            wake_fd: None,
            woken: Vec::new(),
            graveyard: Vec::new(),
            counters,
            failed_wakes: Vec::new(),
            shut_down: false,
            buffer_groups: 0,
            free_buffer_groups: Vec::new(),
            batch: config.batch,
            forks,
            capped: Vec::new(),
        })
    }

    /// Fails if this process is a fork child of the ring's maker: its queues are the parent's.
    fn check_owner(&self) -> io::Result<()> {
        if fork::forked_since(self.forks) {
            return Err(fork::inherited_error());
        }
        Ok(())
    }

    pub(crate) fn mode(&self) -> RingMode {
        self.mode
    }

    /// The counters this driver writes (shared with the runtime's metrics).
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Number of slots whose op the kernel may still complete.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .count()
    }

    /// Number of slots in use (in flight, or completed and not yet taken).
    pub(crate) fn slots_in_use(&self) -> usize {
        self.slots.len()
    }

    /// Registers a slot for `entry` and queues it for the next submit.
    pub(crate) fn push(
        &mut self,
        entry: squeue::Entry,
        multishot: bool,
        waker: &Waker,
    ) -> io::Result<usize> {
        if self.shut_down {
            return Err(io::Error::other("coring: the runtime is shutting down"));
        }
        self.check_owner()?;
        self.generation = (self.generation + 1) & GENERATION_MASK;
        let generation = self.generation;
        let mut lifecycle = Lifecycle::new(multishot);
        match &mut lifecycle {
            Lifecycle::Pending { waker: w, .. } | Lifecycle::Streaming { waker: w, .. } => {
                *w = Some(waker.clone())
            }
            _ => {}
        }
        let index = self.slots.insert(Slot {
            generation,
            lifecycle,
        });
        let user_data = (u64::from(generation) << 32) | index as u64;
        #[cfg(feature = "fault-injection")]
        if let Some(errno) = faults::take_failed_op(entry.get_opcode() as u8, multishot) {
            // Failed "by the kernel" at submission: completed without ever being queued.
            let mut wake = None;
            let cqe = CqeResult::from_raw(-errno, 0);
            if self.slots[index].lifecycle.on_cqe(cqe, &mut wake) == AfterCqe::Wake {
                self.woken.extend(wake);
            }
            return Ok(index);
        }
        if let Err(err) = self.push_entry(&entry.user_data(user_data)) {
            // The entry never reached the queue, so the kernel knows nothing of this slot.
            self.slots.remove(index);
            return Err(err);
        }
        self.counters.ops_in_flight.bump();
        Ok(index)
    }

    /// Queues an op that owns no memory and whose result nobody wants (closing an fd).
    pub(crate) fn push_detached(&mut self, entry: squeue::Entry) -> io::Result<()> {
        if self.shut_down {
            // Shutdown may have reaped its last completion already: nothing would submit this.
            return Err(io::Error::other("coring: the runtime is shutting down"));
        }
        self.push_entry(&entry.user_data(DETACHED_TOKEN))
    }

    /// The ring's fd, for other rings to post wake-ups to with `MSG_RING`.
    pub(crate) fn ring_fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.ring.as_raw_fd()
    }

    /// Posts a wake-up completion on another ring with `MSG_RING`. The target gets a completion
    /// straight into its queue: no eventfd read on its side.
    ///
    /// `target_id` names the target for the fallback: if the kernel refuses the message (an
    /// error completion, say `ENOMEM` or `EOVERFLOW`), [`Driver::take_failed_wakes`] hands it
    /// back so the caller can wake the target through its eventfd instead.
    pub(crate) fn push_msg_ring(&mut self, target_ring: RawFd, target_id: usize) -> io::Result<()> {
        if self.shut_down {
            return Err(io::Error::other("coring: the runtime is shutting down"));
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
        let token = MSG_SENT_TAG | (target_id as u64 & 0xffff_ffff);
        self.push_entry(&entry.user_data(token))?;
        self.counters.msg_ring_sent.bump();
        // Submit now: the waking task may keep this core busy for a long time, or this thread
        // may be about to block outside the loop (joining workers). A submit-only enter is one
        // syscall, like the eventfd write it replaces, and also carries anything else queued.
        self.enter(Park::NoWait)
    }

    /// Arms a multishot poll on `fd` (an eventfd other threads write to wake this ring).
    pub(crate) fn arm_wake_fd(&mut self, fd: RawFd) -> io::Result<()> {
        self.wake_fd = Some(fd);
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build();
        self.push_entry(&entry.user_data(WAKE_TOKEN))
    }

    fn push_entry(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        self.check_owner()?;
        for _ in 0..64 {
            // A scripted "full queue": the push is refused before it happens.
            #[cfg(feature = "fault-injection")]
            if faults::take_full_push() {
                self.counters.sq_full_flushes.bump();
                self.enter(Park::NoWait)?;
                self.dispatch();
                continue;
            }
            // SAFETY: every pointer in `entry` is owned by the op data the caller keeps in a slot
            // (or the op owns no memory at all), which lives until the final completion: the
            // OpCode contract, upheld by each `unsafe impl OpCode`.
            let pushed = unsafe { self.ring.submission().push(entry) };
            if pushed.is_ok() {
                self.counters.sqes_submitted.bump();
                return Ok(());
            }
            // The queue is full: hand the batch to the kernel and make room.
            self.counters.sq_full_flushes.bump();
            self.enter(Park::NoWait)?;
            self.dispatch();
            if self.mode == RingMode::SqPoll && self.ring.submission().is_full() {
                self.ring.submitter().squeue_wait()?;
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "coring: the submission queue stayed full; the kernel is not consuming entries",
        ))
    }

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

    fn push_cancel(&mut self, user_data: u64) {
        self.counters.cancels_sent.bump();
        let entry = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(CANCEL_TOKEN);
        // If the cancel cannot be queued the op still completes on its own (or at shutdown, which
        // retries cancels); its data stays in the slot either way, so ignoring this is sound.
        let _ = self.push_entry(&entry);
    }

    /// Submits queued entries and, unless `park` is `NoWait`, waits for a completion.
    pub(crate) fn park(&mut self, park: Park) -> io::Result<()> {
        self.check_owner()?;
        // Wake-ups collected outside a turn's dispatch (a full queue was drained mid-push, or an
        // op failed before reaching the kernel) must not wait for the kernel's next completion.
        let park = if self.woken.is_empty() {
            park
        } else {
            Park::NoWait
        };
        if park == Park::NoWait {
            let mut sq = self.ring.submission();
            sq.sync();
            if sq.is_empty() && !sq.taskrun() && !sq.cq_overflow() {
                // Nothing to submit and no deferred completions: skip the syscall.
                return Ok(());
            }
        }
        self.enter(park)
    }

    /// Submits whatever is queued, without waiting and without reaping.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.check_owner()?;
        if self.ring.submission().is_empty() {
            return Ok(());
        }
        self.enter(Park::NoWait)
    }

    fn enter(&mut self, park: Park) -> io::Result<()> {
        self.check_owner()?;
        self.counters.enters.bump();
        // A scripted failure is returned instead of the syscall, which then never happens.
        #[cfg(feature = "fault-injection")]
        let result = match faults::take_enter_error() {
            Some(err) => Err(err),
            None => self.submit_and_wait(park),
        };
        #[cfg(not(feature = "fault-injection"))]
        let result = self.submit_and_wait(park);
        match result {
            Ok(_) => Ok(()),
            // ETIME: the wait timed out. EINTR: a signal; the loop comes back. EBUSY/EAGAIN: the
            // completion queue must be drained (or memory freed) first; the caller reaps next.
            // Entries that were not consumed stay queued and go with the next enter.
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!("coring: io_uring_enter failed: {err}"),
            )),
        }
    }

    /// The `io_uring_enter` itself: submit, and wait as `park` and the batching say.
    fn submit_and_wait(&self, park: Park) -> io::Result<usize> {
        let submitter = self.ring.submitter();
        let timeout = match park {
            Park::NoWait => return submitter.submit(),
            Park::Forever => None,
            Park::Timeout(timeout) => Some(timeout),
        };
        let (want, min_wait_us) = wait_shape(self.batch, timeout);
        // Without a general timeout the kernel ends the whole wait when the minimum wait runs
        // out, events or not: an idle runtime would wake every `max_delay`, and a completion
        // arriving later would be held by the next wait. With one, it goes on sleeping until the
        // first completion after the minimum wait, which then ends the wait at once.
        let timeout = match timeout {
            None if min_wait_us > 0 => Some(BATCHED_WAIT_BOUND),
            other => other,
        };
        match timeout {
            None => submitter.submit_and_wait(want),
            Some(timeout) => {
                let ts = types::Timespec::new()
                    .sec(timeout.as_secs())
                    .nsec(timeout.subsec_nanos());
                let args = types::SubmitArgs::new()
                    .timespec(&ts)
                    .min_wait_usec(min_wait_us);
                submitter.submit_with_args(want, &args)
            }
        }
    }

    /// Reaps every available completion, applying each to its slot. Wakers to wake are collected
    /// for [`Driver::take_woken`].
    pub(crate) fn dispatch(&mut self) {
        if self.check_owner().is_err() {
            // A fork child: the completion queue is the parent's (and not even mapped here).
            return;
        }
        let mut rearm_wake = false;
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
            enobufs += u64::from(result == -libc::ENOBUFS);
            match user_data {
                CANCEL_TOKEN => {
                    if result >= 0 || result == -libc::EALREADY {
                        self.counters.cancels_in_flight.bump();
                    }
                    continue;
                }
                DETACHED_TOKEN => continue,
                MSG_WAKE_TOKEN => {
                    self.counters.msg_ring_received.bump();
                    continue;
                }
                WAKE_TOKEN => {
                    if let Some(fd) = self.wake_fd {
                        drain_eventfd(fd);
                    }
                    if !io_uring::cqueue::more(cqe.flags()) && !self.shut_down {
                        rearm_wake = true;
                    }
                    continue;
                }
                // Only refused wake-ups complete (`SKIP_SUCCESS`): the target would sleep on.
                _ if user_data & MSG_SENT_MASK == MSG_SENT_TAG => {
                    self.counters.msg_ring_failed.bump();
                    self.failed_wakes.push((user_data & 0xffff_ffff) as usize);
                    continue;
                }
                _ => {}
            }
            let index = (user_data & 0xffff_ffff) as usize;
            let generation = (user_data >> 32) as u32;
            let Some(slot) = self
                .slots
                .get_mut(index)
                .filter(|s| s.generation == generation)
            else {
                debug_assert!(
                    false,
                    "coring driver: completion for an unknown slot {user_data:#x}"
                );
                continue;
            };
            let mut wake = None;
            // Every slot a completion reaches is in flight; which completion is its last shows
            // in the outcome (an abandoned op's slot is freed still in its in-flight state).
            match slot
                .lifecycle
                .on_cqe(CqeResult::from_raw(result, cqe.flags()), &mut wake)
            {
                AfterCqe::Keep => {}
                AfterCqe::Wake => {
                    finished += u64::from(!slot.lifecycle.in_flight());
                    self.woken.extend(wake);
                }
                AfterCqe::WakeAndCancel => {
                    self.woken.extend(wake);
                    self.capped.push(user_data);
                }
                AfterCqe::Free => {
                    finished += 1;
                    if let Lifecycle::Abandoned(data) = self.slots.remove(index).lifecycle {
                        self.graveyard.push(data);
                    }
                }
            }
        }
        self.counters.cq_dropped.set(u64::from(cq.overflow()));
        drop(cq);
        let counters = &self.counters;
        counters.completions.add(reaped);
        counters.enobufs.add(enobufs);
        counters.ops_in_flight.sub(finished);
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
    /// caller wakes them through their eventfd (see [`Driver::push_msg_ring`]).
    pub(crate) fn take_failed_wakes(&mut self, out: &mut Vec<usize>) {
        out.append(&mut self.failed_wakes);
    }

    /// Moves the data of finished abandoned ops into `out`, to be dropped after the borrow ends.
    pub(crate) fn take_graveyard(&mut self, out: &mut Vec<Box<dyn Abandoned>>) {
        out.append(&mut self.graveyard);
    }

    /// One round of shutdown: cancel what is in flight (first round, then every second), wait a
    /// little, reap. Returns `true` once nothing is left in flight.
    pub(crate) fn shutdown_step(
        &mut self,
        started: Instant,
        last_cancel: &mut Option<Instant>,
    ) -> bool {
        self.shut_down = true;
        if self.check_owner().is_err() {
            // A fork child: the parent's kernel state is not ours to cancel or reap, and the
            // kernel never writes this process's copies of the op data, so they may be freed.
            return true;
        }
        // Shutdown waits for cancels, not for throughput: a batched wait would hold each round
        // for the whole minimum wait (or the round's timeout) however soon the cancels land.
        self.batch = None;
        if self.in_flight() == 0 {
            // Detached entries (closes, wake-ups for other rings) still queued must go out.
            if let Err(err) = self.flush() {
                eprintln!("{err}");
            }
            return true;
        }
        let now = Instant::now();
        if last_cancel.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            *last_cancel = Some(now);
            let targets: Vec<u64> = self
                .slots
                .iter()
                .filter(|(_, s)| s.lifecycle.in_flight())
                .map(|(i, s)| (u64::from(s.generation) << 32) | i as u64)
                .collect();
            for user_data in targets {
                self.push_cancel(user_data);
            }
            if self.wake_fd.take().is_some() {
                self.push_cancel(WAKE_TOKEN);
            }
        }
        if now.duration_since(started) >= LET_GO_AFTER {
            // Some abandoned ops outlast any cancel (a zero-copy send's buffer stays the
            // kernel's until a stalled peer acknowledges it): they make the kernel let go.
            for (_, slot) in self.slots.iter_mut() {
                if let Lifecycle::Abandoned(data) = &mut slot.lifecycle {
                    data.shut_down();
                }
            }
        }
        if now.duration_since(started) >= SHUTDOWN_DEADLINE {
            self.leak_in_flight();
            return true;
        }
        if let Err(err) = self.enter(Park::Timeout(Duration::from_millis(50))) {
            // The ring is unusable: nothing more will complete, so leak rather than free.
            eprintln!("coring: shutdown could not reap completions ({err}); leaking op memory");
            self.leak_in_flight();
            return true;
        }
        self.dispatch();
        // The wakers of ops completed at shutdown stay in `woken`: the caller takes them
        // (`take_woken`) and drops them after the borrow, as it does every turn.
        self.in_flight() == 0
    }

    /// Gives up on ops the kernel has not finished: their memory is leaked, never freed, because
    /// the kernel may still write to it.
    fn leak_in_flight(&mut self) {
        let leaked: Vec<usize> = self
            .slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .map(|(i, _)| i)
            .collect();
        eprintln!(
            "coring: {} operations did not finish at shutdown; leaking their memory",
            leaked.len()
        );
        for index in leaked {
            std::mem::forget(self.slots.remove(index));
            self.counters.ops_in_flight.sub(1);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Normally the runtime has already run shutdown; this covers a driver built without one.
        let started = Instant::now();
        let mut last_cancel = None;
        while !self.shutdown_step(started, &mut last_cancel) {}
        // Not borrowed any more (the cell is being dropped): user code may run here.
        self.woken.clear();
        self.graveyard.clear();
        // Only now may the ring (and with it the kernel's view of these slots) go away.
    }
}

/// An op's future was polled after its runtime's shutdown gave up on it (the future had left the
/// runtime, say returned out of `block_on`). Its result will never come; the panic unwinds into
/// the future's drop, which leaks the op's memory instead of freeing it under the kernel.
#[cold]
#[track_caller]
fn given_up() -> ! {
    panic!(
        "coring: polled an operation whose runtime was dropped and gave up on it at shutdown; \
         its result will never arrive (keep futures of I/O inside the runtime that started them)"
    )
}

/// Stores `waker` unless the one there wakes the same task; returns the waker it replaced, for
/// the caller to drop after the driver's borrow (a waker's `Drop` is user code).
#[must_use]
fn set_waker(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(w) if w.will_wake(waker) => None,
        _ => slot.replace(waker.clone()),
    }
}

fn is_cancel(result: &io::Result<u32>) -> bool {
    matches!(result, Err(err) if err.raw_os_error() == Some(libc::ECANCELED))
}

fn drain_eventfd(fd: RawFd) {
    let mut value = 0u64;
    // SAFETY: reads 8 bytes into a local u64; the eventfd is non-blocking, so an empty counter
    // returns EAGAIN instead of blocking. The result only matters as "drained".
    let _ = unsafe { libc::read(fd, (&raw mut value).cast(), 8) };
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<DriverCell>>> = const { RefCell::new(None) };
}

/// Makes `driver` the current thread's driver, returning the previous one. Once the slot is
/// destroyed (thread exit) nothing is current, and `driver` is handed back instead.
pub(crate) fn set_current(driver: Option<Rc<DriverCell>>) -> Option<Rc<DriverCell>> {
    let mut driver = Some(driver);
    CURRENT
        .try_with(|c| std::mem::replace(&mut *c.borrow_mut(), driver.take().flatten()))
        .unwrap_or_else(|_| driver.flatten())
}

/// The current thread's driver.
///
/// # Panics
///
/// Outside a coring runtime.
#[track_caller]
pub(crate) fn current() -> Rc<DriverCell> {
    CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .expect(
            "coring: no runtime on this thread; I/O and timers must run inside coring::block_on, \
         Runtime::block_on or a task spawned there",
        )
}

/// Whether `driver` is the current thread's driver.
pub(crate) fn is_current(driver: &Rc<DriverCell>) -> bool {
    CURRENT
        .try_with(|c| {
            c.try_borrow()
                .is_ok_and(|current| current.as_ref().is_some_and(|d| Rc::ptr_eq(d, driver)))
        })
        .unwrap_or(false)
}

/// The current thread's driver as a weak reference (empty outside a runtime): the owner unit
/// tests give a watch they abandon by hand (an op names the runtime it was submitted to).
#[cfg(test)]
pub(crate) fn current_weak() -> std::rc::Weak<DriverCell> {
    CURRENT
        .try_with(|c| {
            c.try_borrow()
                .ok()
                .and_then(|current| current.as_ref().map(Rc::downgrade))
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Runs `f` on the current driver if there is one and it is not borrowed right now. A slot
/// destroyed at thread exit counts as none (a socket dropped by another thread-local's
/// destructor then closes synchronously).
pub(crate) fn try_with_current<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| {
            let current = c.try_borrow().ok()?;
            let driver = current.as_ref()?;
            let mut driver = driver.try_borrow_mut().ok()?;
            Some(f(&mut driver))
        })
        .ok()
        .flatten()
}

/// The general timeout of a batched wait that has no timer to wait for (see
/// `Driver::submit_and_wait`); when it passes the loop simply waits again.
const BATCHED_WAIT_BOUND: Duration = Duration::from_secs(3600);

/// How many completions a wait asks for, and its minimum wait in microseconds (0: none): one
/// completion without batching; with it, the batch, but never a minimum wait longer than the
/// timeout, because the kernel does not end a minimum wait early for a shorter timeout and a due
/// timer would be held back.
fn wait_shape(batch: Option<CompletionBatch>, timeout: Option<Duration>) -> (usize, u32) {
    let Some(batch) = batch else {
        return (1, 0);
    };
    let min_wait_us = match timeout {
        None => batch.max_delay_us,
        Some(timeout) => u32::try_from(timeout.as_micros())
            .unwrap_or(u32::MAX)
            .min(batch.max_delay_us),
    };
    if min_wait_us == 0 {
        (1, 0)
    } else {
        (batch.wait_for as usize, min_wait_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: CompletionBatch = CompletionBatch {
        wait_for: 32,
        max_delay_us: 50,
    };

    #[test]
    fn without_batching_a_wait_wants_one_completion() {
        assert_eq!(wait_shape(None, None), (1, 0));
        assert_eq!(wait_shape(None, Some(Duration::from_secs(1))), (1, 0));
    }

    #[test]
    fn a_batched_wait_wants_the_batch_within_max_delay() {
        assert_eq!(wait_shape(Some(BATCH), None), (32, 50));
        assert_eq!(
            wait_shape(Some(BATCH), Some(Duration::from_secs(1))),
            (32, 50)
        );
    }

    #[test]
    fn a_timer_due_sooner_shortens_the_minimum_wait() {
        let due_in = |micros| wait_shape(Some(BATCH), Some(Duration::from_micros(micros)));
        assert_eq!(due_in(20), (32, 20));
        // Due now: no minimum wait at all, and no batch to wait for.
        assert_eq!(due_in(0), (1, 0));
    }
}
