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
//! * **Fork.** Every access to the queues first asks `check_owner`; in a forked child all of
//!   them fail with a clear error, and dropping the ring there only closes the child's copy
//!   of the fd (the mappings are not the child's, see `fork.rs`).
//! * **Other threads never touch this ring.** They wake it through the runtime's eventfd
//!   (watched by a multishot poll) or by posting a completion into it from their own ring
//!   (`MSG_RING`, `msg_ring.rs`); either way the only thread that submits and reaps here is
//!   the runtime's.
//!
//! # Files
//!
//! | file          | what it holds                                                           |
//! |---------------|-------------------------------------------------------------------------|
//! | `setup.rs`    | building the ring: the best flags the kernel takes, clear errors        |
//! | `submit.rs`   | writing entries into the SQ, and the one `io_uring_enter` per turn      |
//! | `reap.rs`     | `dispatch` (completions to slots and tokens) and shutdown               |
//! | `slots.rs`    | the slot table: `user_data`, states, who frees what (no ring; fuzzed)    |
//! | `cancel.rs`   | taking results, abandoning dropped ops, pushing cancels                 |
//! | `close.rs`    | closes nobody waits for (a `SharedFd`'s last clone), closed in the end  |
//! | `msg_ring.rs` | waking another runtime's ring with `MSG_RING`                           |
//! | `enter.rs`    | the syscall itself, through a registered ring fd                        |
//! | `register.rs` | fixed buffers and provided-buffer rings                                 |
//! | `parks.rs`    | the "answered at once" hint a stream receive uses                       |
//! | `probe.rs`    | which opcodes the kernel has, asked once per process                    |
//!
//! # Why one ring per runtime, on its thread
//!
//! A runtime never leaves its thread, so the ring has one submitter and one reaper: no lock on
//! the SQ or CQ, and the kernel can be told so (`SINGLE_ISSUER | DEFER_TASKRUN`, see
//! `setup.rs`), which lets it run completions only when this thread enters. Other threads
//! never touch the ring; they wake it (eventfd or `MSG_RING`, hazard H14 in
//! `docs/HAZARDS.md`).

mod cancel;
mod close;
mod enter;
mod msg_ring;
pub(crate) mod parks;
pub(crate) mod probe;
mod reap;
mod register;
pub(super) mod setup;
pub(crate) use setup::poll_first_supported;
pub(crate) mod slots;
mod submit;

use super::buffer_groups::BufferGroups;
#[cfg(feature = "fault-injection")]
use super::faults;
use super::fork;
use super::opcode::Abandoned;
#[cfg(feature = "fault-injection")]
use super::opcode::CqeResult;
use crate::counters::Counters;
use enter::EnterFd;
use io_uring::{opcode, squeue, types, IoUring};
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
#[cfg(test)]
use submit::wait_shape;

// Reserved `user_data` values. An op's `user_data` has a generation below 2^31 in its top half
// (`slots.rs`), so its top bit is clear; every value here has it set, so a completion is told
// apart from an op's by comparison alone, before any slot lookup. The four fixed tokens have
// both top bits set (`0b11 << 62` and up); `MSG_SENT_TAG` is the only family with `0b10`, so
// an id in its low 62 bits can never spell a fixed token either.

/// The cancel entries' own completions. They own no memory (the target is named by value), so
/// nothing waits for them; `dispatch` only counts those that found their target still running.
const CANCEL_TOKEN: u64 = u64::MAX;
/// Shutdown's one cancel of every request, sent for the detached closes that take too long
/// (`close.rs`); its answer says whether the kernel could.
const CLOSES_CANCEL_TOKEN: u64 = u64::MAX - 2;
/// The multishot poll on the runtime's wake eventfd: its completions only end a wait (and
/// drain the counter); the tasks to run are in the runtime's remote queue. A poll, not a
/// read: a read would need a buffer the ring owns while armed, and one read per wake-up;
/// one multishot poll serves every wake-up with no memory at all (on kernels before 5.13, one
/// single-shot poll per wake-up: see `Uring::arm_wake_fd`).
const WAKE_TOKEN: u64 = u64::MAX - 1;
/// A wake-up posted to this ring by another ring's `MSG_RING`: like the eventfd's, it only
/// ends the wait (see `msg_ring.rs`).
const MSG_WAKE_TOKEN: u64 = u64::MAX - 3;
/// A `MSG_RING` wake-up this ring sent: tag bits over the target's id (the 62 bits below them,
/// see [`msg_sent_user_data`](msg_ring::msg_sent_user_data)). Only a failed send completes
/// here (`SKIP_SUCCESS`), and the id says whose eventfd to write instead.
const MSG_SENT_TAG: u64 = 0b10 << 62;
/// The two tag bits `MSG_SENT_TAG` is compared under; the target's id is what lies below them.
const MSG_SENT_MASK: u64 = 0b11 << 62;

/// How long shutdown waits for the kernel to finish cancelled ops before leaking their memory.
/// Cancelled network ops finish within a turn or two; what can take longer is work a kernel
/// worker already started (a read of a slow file), which a cancel interrupts only at its next
/// check. Ten seconds covers that on a loaded machine, and a runtime drop that leaks after it
/// is still bounded (hazard H11 in `docs/HAZARDS.md`).
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
    /// The fd is the runtime's (it outlives the ring); the ring only watches it.
    wake_fd: Option<RawFd>,
    /// Wakers of ops a dispatch (or a failed push) finished, woken by the runtime after the
    /// borrow ends (see the ground rules). Filled by `dispatch` and the fault-injected push,
    /// emptied by `take_woken` every turn; `park` does not sleep while it holds any.
    woken: Vec<Waker>,
    /// Data of abandoned ops whose final completion came: dropped by the runtime after the
    /// borrow, since a buffer's `Drop` may be user code or call back into the driver (the
    /// last `SharedFd` clone queueing its close through the driver, a user's buffer type).
    /// Filled by `dispatch`, emptied by `take_graveyard`.
    graveyard: Vec<Box<dyn Abandoned>>,
    /// Shared with the runtime's metrics; plain per-thread cells, bumped on the hot path.
    counters: Arc<Counters>,
    /// Targets (by id) of `MSG_RING` wake-ups the kernel refused, to wake through their
    /// eventfd once the driver is not borrowed.
    failed_wakes: Vec<usize>,
    /// Shutdown began: pushes are refused from now on (no new op may start after the last
    /// round of cancels), and the wake poll is not re-armed. Set by the first
    /// `shutdown_step`, never cleared: a ring is not restarted.
    shut_down: bool,
    /// Highest buffer group id handed out so far, and the ids given back since.
    buffer_groups: BufferGroups,
    /// Completion batching (`Builder::completion_batch`): how many completions a wait asks for
    /// and how long it may hold the first. `None` (the default, and during shutdown): a wait
    /// ends at the first completion. Cleared by `shutdown_step`, whose waits are for cancels,
    /// where every completion counts at once.
    batch: Option<CompletionBatch>,
    /// `fork::generation()` when the ring was made: another count means a forked child.
    forks: u64,
    /// Multishot ops that reached their limit of untaken results during a dispatch, to cancel
    /// once the completion queue is no longer borrowed. A field, not a local, so its capacity
    /// is kept between turns; it is empty outside `dispatch`.
    capped: Vec<u64>,
    /// Closes pushed by [`Uring::push_close`] whose completion is still to come: shutdown waits
    /// for them, since tearing the ring down would cancel those still queued for a kernel
    /// worker, leaving their fds open (`close.rs`).
    closes_in_flight: usize,
    /// Whether the wake poll is armed multishot. Cleared for the life of the ring the first
    /// time the kernel answers the multishot poll with `EINVAL` (Linux 5.11 and 5.12 know no
    /// `IORING_POLL_ADD_MULTI`); from then on a single-shot poll is armed after each wake-up.
    wake_multishot: bool,
    /// Shutdown's cancel of the closes that take too long, and how far it got (`close.rs`).
    closes_cancel: close::ClosesCancel,
    /// A panic of a dropped op's dispose, run when its future was dropped (`op_future::abandon`,
    /// perhaps outside any turn): kept for this runtime's next turn to raise (`dispose.rs`).
    dispose_panic: Option<Box<dyn std::any::Any + Send>>,
    /// Fds of closes that shutdown cancelled unrun: closed on a thread of their own when
    /// shutdown ends (`close.rs`). Empty outside shutdown.
    orphaned_closes: Vec<RawFd>,
}

impl Uring {
    /// The spot for a panic of a dropped op's dispose (see the field).
    pub(crate) fn dispose_panic(&mut self) -> &mut Option<Box<dyn std::any::Any + Send>> {
        &mut self.dispose_panic
    }

    /// Builds the ring (`setup.rs`) and registers its fd with this thread (`enter.rs`).
    ///
    /// The fork generation is read *before* the ring exists: a fork between the two would
    /// otherwise leave a child holding a ring it thinks is its own.
    pub(crate) fn new(config: RingConfig, counters: Arc<Counters>) -> io::Result<Self> {
        let forks = fork::generation();
        let (ring, mode) = setup::build_ring(config)?;
        let enter_fd = EnterFd::new(std::os::fd::AsRawFd::as_raw_fd(&ring));
        counters.set_ring_fd_registered(enter_fd.is_registered());
        Ok(Uring {
            ring: ManuallyDrop::new(ring),
            enter_fd,
            mode,
            // Room for a small server's ops in flight before the slab first grows (a slot is
            // 48 B, so this is 3 KiB); it grows by doubling past that, and never shrinks.
            slots: SlotTable::with_capacity(64),
            wake_fd: None,
            woken: Vec::new(),
            graveyard: Vec::new(),
            counters,
            failed_wakes: Vec::new(),
            shut_down: false,
            dispose_panic: None,
            buffer_groups: BufferGroups::default(),
            batch: config.batch,
            forks,
            capped: Vec::new(),
            closes_in_flight: 0,
            wake_multishot: true,
            closes_cancel: close::ClosesCancel::NotSent,
            orphaned_closes: Vec::new(),
        })
    }

    /// Fails if this process is a fork child of the ring's maker: its queues are the parent's.
    /// Asked before every access to the queues (one relaxed load, see `fork.rs`), because a
    /// child's entry would be run by the parent's kernel context (hazard H18).
    fn check_owner(&self) -> io::Result<()> {
        if fork::forked_since(self.forks) {
            return Err(fork::inherited_error());
        }
        Ok(())
    }

    /// How the ring was set up (which optional flags the kernel took).
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
            return Err(super::shutting_down());
        }
        // (A fork child is refused by `push_entry`, before the kernel sees anything; the slot it
        // made is then removed below, as for any entry that never reached the queue.)
        let (index, user_data) = self.slots.insert(multishot, waker);
        #[cfg(feature = "fault-injection")]
        if let Some(errno) = faults::take_failed_op(entry.get_opcode() as u8, multishot) {
            // Failed "by the kernel" at submission: completed without ever being queued. `Ok`,
            // as for a real entry the kernel fails at submission (its error comes back as a
            // completion): the future takes the error from its slot at the next poll.
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

    /// Arms a poll on `fd` (an eventfd other threads write to wake this ring): multishot, so
    /// one entry serves every wake-up until the kernel ends it (a completion without `F_MORE`,
    /// which a multishot op may get at any time); `dispatch` then arms it again, and the new
    /// poll finds a counter written meanwhile readable at once, so no wake-up is lost.
    ///
    /// On a kernel without multishot poll (before 5.13) the first poll fails with `EINVAL`
    /// and `dispatch` falls back to single-shot polls for the life of the ring: one arm per
    /// wake-up, where re-arming the refused multishot poll would fail again every turn (a
    /// core that spins).
    pub(crate) fn arm_wake_fd(&mut self, fd: RawFd) -> io::Result<()> {
        self.wake_fd = Some(fd);
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(self.wake_multishot)
            .build();
        // A scripted old kernel: a flag the kernel refuses with a multishot poll (`EINVAL`).
        #[cfg(feature = "fault-injection")]
        let entry = if self.wake_multishot && faults::multishot_poll_refused() {
            entry.flags(squeue::Flags::SKIP_SUCCESS)
        } else {
            entry
        };
        self.counters.set_wake_poll_multishot(self.wake_multishot);
        self.push_entry(&entry.user_data(WAKE_TOKEN))
    }
}

#[cfg(test)]
mod tests;
