//! The driver: where operations meet the kernel, behind one seam with two backends.
//!
//! * [`uring`] (the default): one io_uring and the slab of operation slots behind it. An op's
//!   entry is submitted and the kernel works on the op's memory until its final completion.
//! * [`epoll`] (the fallback where io_uring is missing or forbidden): the op performs its
//!   syscall itself, non-blocking, on its own data, when polled; if the fd is not ready it
//!   waits for readiness and tries again. No syscall outlives a poll, so the kernel never holds
//!   an op's memory between polls and a dropped op needs no cancel.
//!
//! [`Driver`] is an enum over the two, matched per call (no `dyn` on the hot path). `Op` and
//! `MultiOp` (`op_future.rs`, `multishot.rs`) ask it which way to go; nothing above `driver/` and `op/` knows which
//! backend runs. How a backend is chosen: [`select`].
//!
//! The driver knows nothing of tasks or timers: it is told when to park and for how long.
//!
//! **Borrows.** The driver lives in a `RefCell` on its thread, and no user code may run while it
//! is borrowed (see `uring/mod.rs`): wakers to wake are collected and woken by the runtime after
//! the borrow ends, and dead op data goes to a graveyard the runtime empties after it too.
//!
//! # One loop turn, as the driver sees it
//!
//! The runtime (`runtime/mod.rs`, `Runtime::turn`) runs ready tasks, fires due timers, and then,
//! under one borrow of the driver:
//!
//! 1. [`Driver::publish_slots_in_use`], so another thread reading a parked worker's metrics
//!    sees the ops it waits on;
//! 2. [`Driver::park`] with [`Park::NoWait`] if any task is ready (or was woken meanwhile), else
//!    with the time to the next timer, or [`Park::Forever`]. On io_uring this is the one
//!    `io_uring_enter` of the turn: it submits every entry the tasks pushed during the turn
//!    *and* waits, so a turn costs one syscall however many ops it started;
//! 3. [`Driver::dispatch`]: every completion in the CQ goes to its slot; the wakers of the ops
//!    it finished are collected, not woken;
//! 4. [`Driver::take_woken`], [`Driver::take_graveyard`], [`Driver::take_failed_wakes`]: the
//!    turn's wakers, the data of dropped ops that finished, and the runtimes a `MSG_RING`
//!    wake-up failed to reach are moved out.
//!
//! The borrow then ends, and only then are the wakers woken and the dead data dropped (both may
//! run user code, which may touch the driver again: drop an op, push a new one). Nothing in this
//! module wakes or frees anything itself; that split is what makes the `RefCell` safe to use
//! without a re-entrancy check on every path.
//!
//! Ops themselves reach the driver through [`current()`] (the runtime of this thread) when first
//! polled, and keep an `Rc` to it from then on: a future carried out of one `block_on` and
//! polled under another runtime of the same thread still asks the ring its entry went to, the
//! only one that can reap it. If that ring has shut down, a result it reaped is still handed
//! over; only an op its shutdown gave up on (and leaked) panics, with a clear message (see
//! `given_up`).
//!
//! # Errors an op gets from the driver rather than the kernel
//!
//! Kernel errors arrive as errnos (`CqeResult::from_raw`); these carry a message instead, and
//! no errno, which is how code that must know (`op/close.rs`) tells "never reached the
//! kernel" from a kernel answer:
//!
//! * "the runtime is shutting down" (`Uring::push`, `Epoll::wait`): no op starts after the
//!   last round of cancels;
//! * "the submission queue stayed full" (`uring/submit.rs`): the kernel consumed nothing in
//!   64 flushes;
//! * "this runtime was made by the parent process" (`fork.rs`): a fork child touched an
//!   inherited ring;
//! * "... needs io_uring, and this runtime runs on epoll" (`opcode.rs`, and here): no stand-in
//!   on the fallback backend;
//! * "the operation was cancelled by its deadline" (`cancel_scope.rs`): `TimedOut`, with the
//!   kernel's errno in the message if the kernel answered the cancel;
//! * "the blocking pool could not run a file operation" (`op_future.rs`): no pool thread
//!   could be started.
//!
//! Two conditions are panics, not errors, because no caller could act on them: polling an op
//! outside any runtime (`current`), and polling one its runtime's shutdown gave up on
//! (`given_up`).
//!
//! # Where to start reading
//!
//! `opcode.rs` (the contract an op signs), `op_future.rs` (an op as a future, both backends),
//! `lifecycle.rs` (the states of a slot), `uring/slots.rs` (the slot table), then
//! `uring/submit.rs` and `uring/reap.rs` (the turn). `docs/ARCHITECTURE.md` follows one read
//! through all of them; `docs/HAZARDS.md` lists what each rule here protects against.

mod buffer_groups;
pub(crate) mod cancel_scope;
mod current;
pub(crate) mod dispose;
pub(crate) mod epoll;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub(crate) mod fork;
mod lifecycle;
pub(crate) mod multishot;
pub(crate) mod op_future;
pub(crate) mod opcode;
mod select;
pub(crate) mod uring;

#[cfg(test)]
pub(crate) use current::current_weak;
pub(crate) use current::{current, is_current, set_current, try_with_current};
/// The data of a dropped op, as the runtime buries it after the driver's borrow ends.
pub(crate) use opcode::Abandoned;
#[cfg(fuzzing)]
pub(crate) use opcode::CqeResult as FuzzCqeResult;
pub use select::Backend;
pub(crate) use uring::probe::kernel_lacks;
pub use uring::setup::RingMode;
pub(crate) use uring::setup::{CompletionBatch, RingConfig};

use crate::counters::Counters;
use epoll::Epoll;
use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};
use uring::Uring;

/// How the driver is shared on its thread: the runtime owns one `Rc<DriverCell>`, every op in
/// flight another (an op must reach the ring it was pushed to, see [`current()`]). A `RefCell`,
/// not a `Mutex`: a runtime never leaves its thread, and a borrow is never held across user
/// code (module docs), so a borrow conflict is a bug in coring, not a wait.
pub(crate) type DriverCell = RefCell<Driver>;

/// When `park` may return. The runtime picks it each turn from what it knows and the driver
/// does not: whether a task is ready, and when the next timer is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Park {
    /// Submit and reap what is ready, without waiting: a task is ready to run, so sleeping in
    /// the kernel would delay it. On io_uring, with nothing queued and nothing the kernel holds
    /// back (overflowed completions, deferred task work), this makes no syscall at all.
    NoWait,
    /// Wait for a completion or until the timeout passes: the time to the next timer. A timer
    /// is not an op in the ring; the wait's own timeout is how timers fire on time, which saves
    /// a `TIMEOUT` entry (and its cancel) per sleep.
    Timeout(Duration),
    /// Wait for a completion: no task is ready and no timer is armed. Another thread wakes the
    /// runtime through its eventfd or a `MSG_RING` completion, both of which end the wait.
    Forever,
}

/// The backend a runtime runs on; see the module docs.
// One driver per runtime, matched on every op: boxing the larger variant would only add a
// pointer chase to the hot path to save a few hundred bytes once.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    /// io_uring: ops are submitted as entries and the kernel owns their memory until the final
    /// completion; the slot table (`uring/slots.rs`) keeps that memory alive if the op's future
    /// goes away first.
    Uring(Uring),
    /// epoll: ops perform their syscall when polled and wait for readiness in between; the
    /// kernel holds no op memory between polls (file calls on the blocking pool excepted, see
    /// `epoll/offload.rs`).
    Epoll(Epoll),
}

/// Forwards a call to whichever backend runs. Only for calls both backends answer with the same
/// signature and meaning; where one backend has nothing to do, the `match` is written out so the
/// no-op is visible.
macro_rules! both {
    ($self:expr, $d:ident => $call:expr) => {
        match $self {
            Driver::Uring($d) => $call,
            Driver::Epoll($d) => $call,
        }
    };
}

impl Driver {
    /// The backend `config` asks for, or the automatic choice (see [`select`]); either backend
    /// writes `counters` (shared with the runtime's metrics).
    pub(crate) fn new(config: RingConfig, counters: Arc<Counters>) -> io::Result<Self> {
        select::build(config, counters)
    }

    /// Which backend runs.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Driver::Uring(_) => Backend::IoUring,
            Driver::Epoll(_) => Backend::Epoll,
        }
    }

    /// Why the epoll backend runs when nobody asked for it (io_uring was refused), if so.
    pub(crate) fn fallback_reason(&self) -> Option<&str> {
        match self {
            Driver::Uring(_) => None,
            Driver::Epoll(e) => e.fallback_reason(),
        }
    }

    /// Whether ops perform their syscalls at readiness (epoll) rather than submit them.
    #[inline]
    pub(crate) fn is_readiness(&self) -> bool {
        matches!(self, Driver::Epoll(_))
    }

    /// The readiness backend; only ops that saw [`Driver::is_readiness`] call this.
    ///
    /// A mismatch is a coring bug, not something a user can cause (a driver never changes
    /// backend), hence `unreachable!` rather than an error every caller would have to handle.
    pub(crate) fn epoll(&mut self) -> &mut Epoll {
        match self {
            Driver::Epoll(e) => e,
            Driver::Uring(_) => {
                unreachable!("coring driver: an epoll call on the io_uring backend")
            }
        }
    }

    /// The io_uring backend; only ops that saw it is not [`Driver::is_readiness`] call this.
    #[inline]
    pub(crate) fn uring(&mut self) -> &mut Uring {
        match self {
            Driver::Uring(u) => u,
            Driver::Epoll(_) => {
                unreachable!("coring driver: an io_uring call on the epoll backend")
            }
        }
    }

    /// The io_uring backend, or an error naming `what` needs it: for a call that may be made on
    /// either backend (`push_msg_ring`, whose caller then uses the eventfd), where the answer
    /// must be an error the caller can act on, not a panic.
    pub(crate) fn uring_for(&mut self, what: &str) -> io::Result<&mut Uring> {
        match self {
            Driver::Uring(u) => Ok(u),
            Driver::Epoll(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("coring: {what} needs io_uring, and this runtime runs on epoll"),
            )),
        }
    }

    /// How the ring was set up (`RingMode::NoRing` on epoll), for metrics and for tests that
    /// must know whether the kernel took the flags they ask for.
    pub(crate) fn mode(&self) -> RingMode {
        match self {
            Driver::Uring(u) => u.mode(),
            Driver::Epoll(_) => RingMode::NoRing,
        }
    }

    /// The counters this driver writes (shared with the runtime's metrics).
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        both!(self, d => d.counters())
    }

    /// Number of ops the kernel may still complete (0 on epoll: no op outlives its poll there;
    /// file calls running on the blocking pool are counted by the pool, not here).
    pub(crate) fn in_flight(&self) -> usize {
        match self {
            Driver::Uring(u) => u.in_flight(),
            Driver::Epoll(_) => 0,
        }
    }

    /// Number of op slots in use (in flight, or completed and not yet taken).
    pub(crate) fn slots_in_use(&self) -> usize {
        match self {
            Driver::Uring(u) => u.slots_in_use(),
            Driver::Epoll(_) => 0,
        }
    }

    /// Publishes [`Driver::slots_in_use`] to the counters other threads read: counted, not kept
    /// op by op, so the runtime does it when the count matters (before waiting, after reaping).
    pub(crate) fn publish_slots_in_use(&self) {
        self.counters()
            .op_slots_in_use
            .set(self.slots_in_use() as u64);
    }

    /// Closes `fd`, batched with the turn's submissions on io_uring; at once on epoll (after
    /// forgetting its readiness registration, so a new fd with its number starts afresh).
    ///
    /// The io_uring close is detached (no slot, no result unless the kernel cancels it unrun,
    /// see `uring/close.rs`): `SharedFd` calls this when its last clone goes, which only happens
    /// once no op holds the fd, so nothing in flight can see the number reused. An `Err` means
    /// the entry could not be queued (shutdown, a full queue that would not drain, a fork
    /// child); the caller then closes the fd itself.
    pub(crate) fn close_fd(&mut self, fd: RawFd) -> io::Result<()> {
        match self {
            Driver::Uring(u) => u.push_close(fd),
            Driver::Epoll(e) => {
                e.close(fd);
                Ok(())
            }
        }
    }

    /// Forgets any readiness registration of `fd`, which leaves coring's hands open (an
    /// `into_raw_fd`, an `into_std`): the new owner may close it where coring cannot see, and
    /// the table must not describe its number by then (see `epoll/fds.rs`).
    pub(crate) fn release_fd(&mut self, fd: RawFd) {
        if let Driver::Epoll(e) = self {
            e.forget(fd);
        }
    }

    /// Prepares a new fd for this backend: epoll needs it non-blocking, and forgets whatever it
    /// knew of an earlier fd with the same number (closed where it could not see). io_uring
    /// needs nothing: its ops name the fd per entry, and a blocking fd does not block the
    /// ring (the kernel polls or hands the op to a worker).
    pub(crate) fn adopt_fd(&mut self, fd: RawFd) -> io::Result<()> {
        match self {
            Driver::Uring(_) => Ok(()),
            Driver::Epoll(e) => e.adopt(fd),
        }
    }

    /// The ring's fd, for other rings to post wake-ups to with `MSG_RING` (none on epoll).
    pub(crate) fn ring_fd(&self) -> Option<RawFd> {
        match self {
            Driver::Uring(u) => Some(u.ring_fd()),
            Driver::Epoll(_) => None,
        }
    }

    /// Posts a wake-up completion on another ring with `MSG_RING` (io_uring only). If the
    /// kernel refuses it, this is an `Err` (refused as it was submitted) or `target_id` comes
    /// back later from [`Driver::take_failed_wakes`].
    pub(crate) fn push_msg_ring(&mut self, target_ring: RawFd, target_id: usize) -> io::Result<()> {
        self.uring_for("MSG_RING")?
            .push_msg_ring(target_ring, target_id)
    }

    /// Moves the ids of runtimes whose `MSG_RING` wake-up the kernel refused into `out`, for the
    /// caller to wake through their eventfd (none on epoll, which sends no `MSG_RING`).
    pub(crate) fn take_failed_wakes(&mut self, out: &mut Vec<usize>) {
        if let Driver::Uring(u) = self {
            u.take_failed_wakes(out);
        }
    }

    /// Watches `fd` (an eventfd other threads write to wake this runtime). Called once, when
    /// the runtime is built; the io_uring backend re-arms its poll itself when the kernel ends
    /// it (`uring/reap.rs`).
    pub(crate) fn arm_wake_fd(&mut self, fd: RawFd) -> io::Result<()> {
        both!(self, d => d.arm_wake_fd(fd))
    }

    /// Submits what is queued and, unless `park` is `NoWait`, waits for an event.
    ///
    /// An error here means the backend itself failed (not an op): the runtime cannot go on
    /// and reports it. Interruptions and busy queues are retried inside (`uring/submit.rs`).
    pub(crate) fn park(&mut self, park: Park) -> io::Result<()> {
        both!(self, d => d.park(park))
    }

    /// Submits whatever is queued, without waiting and without reaping: for the moment a
    /// `block_on` returns, when no next turn may come to submit what the last poll queued
    /// (a `MSG_RING` wake-up for another runtime, a detached close).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Driver::Uring(u) => u.flush(),
            Driver::Epoll(_) => Ok(()),
        }
    }

    /// Applies what the last park found to the ops waiting for it. On epoll `park` itself
    /// turns events into wakers (there is no queue to reap), so this is io_uring's alone.
    pub(crate) fn dispatch(&mut self) {
        if let Driver::Uring(u) = self {
            u.dispatch();
        }
    }

    /// Moves the collected wakers into `out` (the caller wakes them after the borrow ends).
    /// `append` into the runtime's scratch `Vec`: both keep their capacity, so a steady loop
    /// allocates nothing to hand wakers over.
    pub(crate) fn take_woken(&mut self, out: &mut Vec<Waker>) {
        both!(self, d => d.take_woken(out))
    }

    /// A panic of a dropped op's dispose kept for this runtime (`dispose::park_caught`), to be
    /// raised after the borrow ends. The readiness backend keeps none: its disposes all run in
    /// its own turns (or, on the pool, in the dropping future's own `Drop`).
    pub(crate) fn take_dispose_panic(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        match self {
            Driver::Uring(uring) => uring.dispose_panic().take(),
            Driver::Epoll(_) => None,
        }
    }

    /// Moves the data of finished abandoned ops into `out`, to be dropped after the borrow ends.
    pub(crate) fn take_graveyard(&mut self, out: &mut Vec<Box<dyn Abandoned>>) {
        both!(self, d => d.take_graveyard(out))
    }

    /// One round of shutdown; `true` once nothing is left in flight. The runtime calls it in a
    /// loop, waking and burying between rounds (outside the borrow), so tasks woken by their
    /// ops' cancellations can be dropped before the ring is. `started` is when shutdown began
    /// (for the deadlines after which memory is leaked rather than freed) and `last_cancel` when
    /// cancels were last sent (they are re-sent now and then: see `uring/reap.rs`).
    pub(crate) fn shutdown_step(
        &mut self,
        started: Instant,
        last_cancel: &mut Option<Instant>,
    ) -> bool {
        match self {
            Driver::Uring(u) => u.shutdown_step(started, last_cancel),
            Driver::Epoll(e) => e.shutdown(started),
        }
    }
}

/// Why an op was refused before it reached the kernel: its runtime is shutting down. A type of
/// its own, not only a message, so that code which must tell "never sent" from a kernel answer
/// (a `BufWriter` retrying a parked send in the next runtime) asks [`is_shutting_down`] instead
/// of comparing text.
#[derive(Debug)]
struct ShuttingDown;

impl std::fmt::Display for ShuttingDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("coring: the runtime is shutting down")
    }
}

impl std::error::Error for ShuttingDown {}

/// The error of an op refused because its runtime is shutting down (see [`ShuttingDown`]).
#[cold]
pub(crate) fn shutting_down() -> io::Error {
    io::Error::other(ShuttingDown)
}

/// Whether `err` is [`shutting_down`]'s: the op never reached the kernel.
pub(crate) fn is_shutting_down(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<ShuttingDown>())
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
///
/// `will_wake` keeps the common re-poll (same task, same waker) to a comparison: no clone, no
/// drop of the old one, no atomic reference-count traffic for an `Arc`-backed waker. A future
/// moved to another task (a `select!` arm handed over, say) stores the new task's waker, so the
/// completion wakes whoever polls it now.
#[must_use]
fn set_waker(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(w) if w.will_wake(waker) => None,
        _ => slot.replace(waker.clone()),
    }
}

/// Empties the wake eventfd after it was seen readable. Both backends watch it: on epoll
/// level-triggered, which would report it on every wait until it is read; on io_uring with a
/// multishot poll, which fires per write rather than per turn, but whose re-armed successor
/// would fire at once for a counter left non-zero, and a counter never read would at last
/// refuse the waking threads' writes. What the wake-up was for (tasks queued from another
/// thread) the runtime drains from its remote queue every turn anyway.
fn drain_eventfd(fd: RawFd) {
    let mut value = 0u64;
    // SAFETY: reads 8 bytes into a local u64; the eventfd is non-blocking, so an empty counter
    // returns EAGAIN instead of blocking. The result only matters as "drained".
    let _ = unsafe { libc::read(fd, (&raw mut value).cast(), 8) };
}
