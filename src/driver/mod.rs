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

mod buffer_groups;
pub(crate) mod cancel_scope;
mod current;
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

pub(crate) type DriverCell = RefCell<Driver>;

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

/// The backend a runtime runs on; see the module docs.
// One driver per runtime, matched on every op: boxing the larger variant would only add a
// pointer chase to the hot path to save a few hundred bytes once.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Uring(Uring),
    Epoll(Epoll),
}

/// Forwards a call to whichever backend runs.
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

    /// The io_uring backend, or an error naming `what` needs it.
    pub(crate) fn uring_for(&mut self, what: &str) -> io::Result<&mut Uring> {
        match self {
            Driver::Uring(u) => Ok(u),
            Driver::Epoll(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("coring: {what} needs io_uring, and this runtime runs on epoll"),
            )),
        }
    }

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

    /// Number of ops the kernel may still complete.
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
    pub(crate) fn close_fd(&mut self, fd: RawFd) -> io::Result<()> {
        match self {
            Driver::Uring(u) => {
                u.push_detached(io_uring::opcode::Close::new(io_uring::types::Fd(fd)).build())
            }
            Driver::Epoll(e) => {
                e.close(fd);
                Ok(())
            }
        }
    }

    /// Forgets any readiness registration of `fd`, which leaves coring's hands open.
    pub(crate) fn release_fd(&mut self, fd: RawFd) {
        if let Driver::Epoll(e) = self {
            e.forget(fd);
        }
    }

    /// Prepares a new fd for this backend: epoll needs it non-blocking.
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

    /// Watches `fd` (an eventfd other threads write to wake this runtime).
    pub(crate) fn arm_wake_fd(&mut self, fd: RawFd) -> io::Result<()> {
        both!(self, d => d.arm_wake_fd(fd))
    }

    /// Submits what is queued and, unless `park` is `NoWait`, waits for an event.
    pub(crate) fn park(&mut self, park: Park) -> io::Result<()> {
        both!(self, d => d.park(park))
    }

    /// Submits whatever is queued, without waiting and without reaping.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Driver::Uring(u) => u.flush(),
            Driver::Epoll(_) => Ok(()),
        }
    }

    /// Applies what the last park found to the ops waiting for it.
    pub(crate) fn dispatch(&mut self) {
        if let Driver::Uring(u) = self {
            u.dispatch();
        }
    }

    /// Moves the collected wakers into `out` (the caller wakes them after the borrow ends).
    pub(crate) fn take_woken(&mut self, out: &mut Vec<Waker>) {
        both!(self, d => d.take_woken(out))
    }

    /// Moves the data of finished abandoned ops into `out`, to be dropped after the borrow ends.
    pub(crate) fn take_graveyard(&mut self, out: &mut Vec<Box<dyn Abandoned>>) {
        both!(self, d => d.take_graveyard(out))
    }

    /// One round of shutdown; `true` once nothing is left in flight.
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

/// Empties the wake eventfd after it was seen readable.
fn drain_eventfd(fd: RawFd) {
    let mut value = 0u64;
    // SAFETY: reads 8 bytes into a local u64; the eventfd is non-blocking, so an empty counter
    // returns EAGAIN instead of blocking. The result only matters as "drained".
    let _ = unsafe { libc::read(fd, (&raw mut value).cast(), 8) };
}
