//! The io_uring backend: one ring and the slab of operation slots behind it.
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
//!   than free memory the kernel may still write (`op_future.rs`).
//! * **Shutdown** cancels every in-flight op and reaps until none is left; if the kernel does not
//!   finish within a bound, the remaining op data is leaked, never freed.
//!
//! The driver knows nothing of tasks or timers: it is told when to park and for how long.

mod enter;
mod msg_ring;
pub(crate) mod parks;
mod reap;
mod register;
pub(super) mod setup;
pub(crate) use setup::poll_first_supported;
pub(crate) mod slots;

use super::buffer_groups::BufferGroups;
#[cfg(feature = "fault-injection")]
use super::faults;
use super::fork;
use super::opcode::Abandoned;
#[cfg(feature = "fault-injection")]
use super::opcode::CqeResult;
use super::Park;
use crate::counters::Counters;
use enter::EnterFd;
use io_uring::{opcode, squeue, types, EnterFlags, IoUring};
use msg_ring::msg_sent_target;
#[cfg(test)]
use msg_ring::msg_sent_user_data;
use setup::{CompletionBatch, RingConfig, RingMode};
#[cfg(feature = "fault-injection")]
use slots::Reaped;
use slots::SlotTable;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

// Reserved `user_data` values. An op's `user_data` has a generation below 2^31 in its top half
// (`slots.rs`), so its top bit is clear; every value here has it set, so a completion is told
// apart from an op's by comparison alone, before any slot lookup.

/// The cancel entries' own completions. They own no memory (the target is named by value), so
/// nothing waits for them; `dispatch` only counts those that found their target still running.
const CANCEL_TOKEN: u64 = u64::MAX;
/// The multishot poll on the runtime's wake eventfd: its completions only end a wait (and
/// drain the counter); the tasks to run are in the runtime's remote queue.
const WAKE_TOKEN: u64 = u64::MAX - 1;
/// Fire-and-forget ops that own no memory (closing an fd): no slot, result ignored. A failed
/// close leaves nothing to retry (the fd number is released either way on Linux).
const DETACHED_TOKEN: u64 = u64::MAX - 2;
/// A wake-up posted to this ring by another ring's `MSG_RING`: like the eventfd's, it only
/// ends the wait (see `msg_ring.rs`).
const MSG_WAKE_TOKEN: u64 = u64::MAX - 3;
/// A `MSG_RING` wake-up this ring sent: tag bits over the target's id (the 62 bits below them,
/// see [`msg_sent_user_data`]). Only a failed send completes here (`SKIP_SUCCESS`), and the id
/// says whose eventfd to write instead.
const MSG_SENT_TAG: u64 = 0b10 << 62;
const MSG_SENT_MASK: u64 = 0b11 << 62;

/// How long shutdown waits for the kernel to finish cancelled ops before leaking their memory.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// How long shutdown lets abandoned ops that no cancel ends finish on their own (a healthy peer
/// acknowledges a zero-copy send in far less) before making the kernel let go of them.
const LET_GO_AFTER: Duration = Duration::from_millis(200);

/// The io_uring backend's state: the ring and the slots of the ops in it.
///
/// Built once per runtime, on its thread, and never moved off it (the registered ring index in
/// `enter_fd` is a per-thread resource). All fields are touched under the driver's `RefCell`
/// borrow only; the `Vec`s that hand things to the runtime (`woken`, `graveyard`,
/// `failed_wakes`) keep their capacity between turns, so a steady loop does not allocate.
pub(crate) struct Uring {
    /// Dropped by hand (see `Drop for Uring`): in a fork child its mappings must not be unmapped.
    ring: ManuallyDrop<IoUring>,
    /// How `io_uring_enter` names the ring: by its index in this thread's registered-ring
    /// table when the kernel took it (see `enter.rs`).
    enter_fd: EnterFd,
    /// The flags the kernel took at setup (`setup.rs`): decides whether entries need an enter
    /// to be submitted at all (SQPOLL does not) and whether `MSG_RING` may be used.
    mode: RingMode,
    /// Every op the kernel may still complete, plus completed ones whose result is untaken.
    slots: SlotTable,
    /// The runtime's wake eventfd, watched by a multishot poll (`WAKE_TOKEN`). `None` before
    /// it is armed and once shutdown cancelled the poll, so `dispatch` does not re-arm it.
    wake_fd: Option<RawFd>,
    /// Wakers of ops a dispatch (or a failed push) finished, woken by the runtime after the
    /// borrow ends (see the ground rules).
    woken: Vec<Waker>,
    /// Data of abandoned ops whose final completion came: dropped by the runtime after the
    /// borrow, since a buffer's `Drop` may be user code or call back into the driver.
    graveyard: Vec<Box<dyn Abandoned>>,
    /// Shared with the runtime's metrics; plain per-thread cells, bumped on the hot path.
    counters: Arc<Counters>,
    /// Targets (by id) of `MSG_RING` wake-ups the kernel refused, to wake through their
    /// eventfd once the driver is not borrowed.
    failed_wakes: Vec<usize>,
    /// Shutdown began: pushes are refused from now on (no new op may start after the last
    /// round of cancels), and the wake poll is not re-armed.
    shut_down: bool,
    /// Highest buffer group id handed out so far, and the ids given back since.
    buffer_groups: BufferGroups,
    /// Completion batching (`Builder::completion_batch`): how many completions a wait asks for
    /// and how long it may hold the first. `None` (the default, and during shutdown): a wait
    /// ends at the first completion.
    batch: Option<CompletionBatch>,
    /// `fork::generation()` when the ring was made: another count means a forked child.
    forks: u64,
    /// Multishot ops that reached their limit of untaken results during a dispatch, to cancel
    /// once the completion queue is no longer borrowed.
    capped: Vec<u64>,
}

impl Uring {
    pub(crate) fn new(config: RingConfig, counters: Arc<Counters>) -> io::Result<Self> {
        let forks = fork::generation();
        let (ring, mode) = setup::build_ring(config)?;
        let enter_fd = EnterFd::new(std::os::fd::AsRawFd::as_raw_fd(&ring));
        counters.set_ring_fd_registered(enter_fd.is_registered());
        Ok(Uring {
            ring: ManuallyDrop::new(ring),
            enter_fd,
            mode,
            slots: SlotTable::with_capacity(64),
            wake_fd: None,
            woken: Vec::new(),
            graveyard: Vec::new(),
            counters,
            failed_wakes: Vec::new(),
            shut_down: false,
            buffer_groups: BufferGroups::default(),
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
        self.slots.in_flight()
    }

    /// Number of slots in use (in flight, or completed and not yet taken).
    pub(crate) fn slots_in_use(&self) -> usize {
        self.slots.len()
    }

    /// Registers a slot for `entry` and queues it for the next submit; returns the slot's index,
    /// which the op's future keeps to take its result.
    ///
    /// The slot is made before the push so the entry can carry its `user_data`; if the push
    /// fails the slot goes again (the kernel never saw it). After a successful push the slot is
    /// the kernel's until the final completion, whatever happens to the future or to later
    /// `io_uring_enter` calls: a pushed entry will be submitted, and without its slot a dropped
    /// future's data would have nowhere to stay while the kernel may still read or write it.
    pub(crate) fn push(
        &mut self,
        entry: squeue::Entry,
        multishot: bool,
        waker: &Waker,
    ) -> io::Result<usize> {
        if self.shut_down {
            return Err(io::Error::other("coring: the runtime is shutting down"));
        }
        // (A fork child is refused by `push_entry`, before the kernel sees anything.)
        let (index, user_data) = self.slots.insert(multishot, waker);
        #[cfg(feature = "fault-injection")]
        if let Some(errno) = faults::take_failed_op(entry.get_opcode() as u8, multishot) {
            // Failed "by the kernel" at submission: completed without ever being queued.
            if let Reaped::Wake { waker, .. } = self
                .slots
                .complete(user_data, CqeResult::from_raw(-errno, 0))
            {
                self.woken.extend(waker);
            }
            return Ok(index);
        }
        if let Err(err) = self.push_entry(&entry.user_data(user_data)) {
            // The entry never reached the queue, so the kernel knows nothing of this slot.
            self.slots.remove_unsubmitted(index);
            return Err(err);
        }
        self.counters.ops_in_flight.bump();
        Ok(index)
    }

    /// Queues an op that owns no memory and whose result nobody wants (closing an fd). No slot:
    /// its completion carries `DETACHED_TOKEN` and is dropped by `dispatch`. Only for entries
    /// that point at nothing, since no slot keeps anything alive for them.
    pub(crate) fn push_detached(&mut self, entry: squeue::Entry) -> io::Result<()> {
        if self.shut_down {
            // Shutdown may have reaped its last completion already: nothing would submit this.
            return Err(io::Error::other("coring: the runtime is shutting down"));
        }
        self.push_entry(&entry.user_data(DETACHED_TOKEN))
    }

    /// Arms a multishot poll on `fd` (an eventfd other threads write to wake this ring). One
    /// entry serves every wake-up until the kernel ends it (a completion without `F_MORE`,
    /// which a multishot op may get at any time); `dispatch` then arms it again, and the new
    /// poll finds a counter written meanwhile readable at once, so no wake-up is lost.
    pub(crate) fn arm_wake_fd(&mut self, fd: RawFd) -> io::Result<()> {
        self.wake_fd = Some(fd);
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build();
        self.push_entry(&entry.user_data(WAKE_TOKEN))
    }

    /// Writes `entry` into the SQ. A full SQ is not an error: the queued batch is submitted
    /// and the CQ reaped (`dispatch`: completions must be reaped too, or a kernel that defers
    /// submissions while the CQ is full would never make room), then the push is retried. An
    /// SQPOLL ring's kernel thread takes entries on its own schedule, so with the SQ still full
    /// the thread waits for it (`SQ_WAIT`). 64 rounds without room means the kernel is not
    /// consuming entries at all: an error, not a hang.
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
                // SAFETY: no argument; the queued entries are valid (the OpCode contract).
                unsafe {
                    self.enter_fd
                        .enter(0, 0, EnterFlags::SQ_WAIT, std::ptr::null(), 0)
                }?;
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "coring: the submission queue stayed full; the kernel is not consuming entries",
        ))
    }

    /// Submits queued entries and, unless `park` is `NoWait`, waits for a completion: the one
    /// `io_uring_enter` of a loop turn. With nothing to submit and nothing to wait for it makes
    /// no syscall, so a busy runtime whose ops complete in batches pays for none on most turns.
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
            // `taskrun`: the kernel has task work (completions of a DEFER_TASKRUN ring) that only
            // an enter runs. `cq_overflow`: completions wait in the kernel's overflow list for
            // room in the CQ (NODROP), and only an enter with GETEVENTS moves them in. Skipping
            // the enter in either case would leave finished ops unreaped indefinitely.
            if sq.is_empty() && !sq.taskrun() && !sq.cq_overflow() {
                // Nothing to submit and no deferred completions: skip the syscall.
                return Ok(());
            }
        }
        let busy = park == Park::NoWait
            || self.ring.submission().taskrun()
            || !self.ring.completion().is_empty();
        parks::record(busy);
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

    /// `io_uring_enter` with the errors a loop turn can go on from turned into `Ok`: every one
    /// of them leaves unsubmitted entries queued for the next enter, and none loses one.
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
    fn submit_and_wait(&mut self, park: Park) -> io::Result<usize> {
        let timeout = match park {
            Park::NoWait => return self.submit_with(0, None),
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
            None => self.submit_with(want, None),
            Some(timeout) => {
                let ts = types::Timespec::new()
                    .sec(timeout.as_secs())
                    .nsec(timeout.subsec_nanos());
                let args = types::SubmitArgs::new()
                    .timespec(&ts)
                    .min_wait_usec(min_wait_us);
                self.submit_with(want, Some(&args))
            }
        }
    }

    /// Submits the queue and waits for `want` completions (with `args`' timeouts, if any),
    /// with the flags the `io-uring` crate's `submit_and_wait` / `submit_with_args` pass, but
    /// through [`EnterFd`] (the crate's `Submitter` forgets a registered ring's index).
    fn submit_with(&mut self, want: usize, args: Option<&types::SubmitArgs>) -> io::Result<usize> {
        let sqpoll = self.mode == RingMode::SqPoll;
        let sq = self.ring.submission();
        let len = sq.len();
        // Completions held back by a full completion queue (NODROP) and deferred task work are
        // only flushed or run by an enter that carries GETEVENTS.
        let needs_getevents = sq.cq_overflow() || sq.taskrun();
        let mut flags = EnterFlags::empty();
        if want > 0 || needs_getevents {
            flags |= EnterFlags::GETEVENTS;
        }
        if sqpoll {
            // `need_wakeup` fences, as the kernel's side of the sleep handshake requires.
            if sq.need_wakeup() {
                flags |= EnterFlags::SQ_WAKEUP;
            } else if want == 0 && !needs_getevents {
                // The kernel thread is polling: it takes the entries without a syscall.
                return Ok(len);
            }
        }
        drop(sq);
        let (arg, arg_size) = match args {
            Some(args) => {
                flags |= EnterFlags::EXT_ARG;
                (
                    std::ptr::from_ref(args).cast::<libc::c_void>(),
                    std::mem::size_of::<types::SubmitArgs>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        let to_submit = u32::try_from(len).unwrap_or(u32::MAX);
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        // SAFETY: `SubmitArgs` is `repr(transparent)` over `io_uring_getevents_arg`, and it and
        // the timespec it points to outlive the call; with no `EXT_ARG` the argument is null.
        // Queued entries are valid until their completion (the OpCode contract).
        unsafe { self.enter_fd.enter(to_submit, want, flags, arg, arg_size) }
    }
}

/// The general timeout of a batched wait that has no timer to wait for (see
/// `Uring::submit_and_wait`); when it passes the loop simply waits again.
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
mod tests;
