//! Multishot `ACCEPT`: one submission, a completion per incoming connection.
//!
//! The entry points at nothing: no peer address is asked for (each connection's would be
//! written over the last one's before it could be read), so the op owns only the listener's
//! `SharedFd` clone and where connections of a dropped stream go. Each completion carries a
//! new fd, created `SOCK_CLOEXEC`, flagged `F_MORE` while the accept goes on.
//!
//! # When the stream ends
//!
//! The kernel ends it with any completion lacking `F_MORE`: an error (`EMFILE` when the process
//! is out of fds, among others), a cancel, or for reasons of its own. [`AcceptStream`] then
//! arms a new accept on the next poll, as a plain accept loop would retry; the back-off after
//! resource errors is the caller's (`net/listener.rs`'s `Incoming`).
//!
//! # Dropped in flight
//!
//! The driver cancels the accept and keeps the op data until its final completion; each
//! connection accepted meanwhile (queued in the slot, or racing the cancel) goes to the
//! listener's [`Kept`](super::keep::Kept) queue, so none is lost or leaked.
//!
//! # Kernels and the readiness backend
//!
//! Multishot accept needs Linux 5.19; before, the kernel refuses it with `EINVAL` and
//! `Incoming` accepts one at a time (`accept.rs`). On epoll each poll runs one non-blocking
//! `accept4(2)`, reported as an item flagged `F_MORE`, so the stream never ends by itself.

use super::keep::{Connection, KeepWatch};
use crate::driver::multishot::MultiOp;
use crate::driver::opcode::{CqeResult, OpCode, Owner};
use crate::driver::opcode::{Multishot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::os::fd::{FromRawFd, OwnedFd};
use std::task::{ready, Context, Poll};

/// A multishot accept's data. The entry asks for no peer address (a multishot accept writes
/// every connection's into the same place, so it could not be told apart); callers that want
/// it ask the socket (`getpeername`).
pub(crate) struct AcceptMulti {
    /// The listening socket, kept open until the final completion.
    fd: SharedFd,
    /// Where connections accepted after the stream was dropped go.
    keep: KeepWatch<Connection>,
}

/// Accepts connections on the listening socket `fd` until the kernel ends the stream; those
/// accepted after the stream was dropped go to `keep`.
fn accept_multi(fd: &SharedFd, keep: KeepWatch<Connection>) -> MultiOp<AcceptMulti> {
    MultiOp::new(AcceptMulti {
        fd: fd.clone(),
        keep,
    })
}

// SAFETY: the entry carries no pointer (no peer address is asked for); the listening socket is
// kept open by the `SharedFd` clone for as long as this op's data lives.
unsafe impl OpCode for AcceptMulti {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::AcceptMulti::new(self.fd.types_fd())
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    /// Emulated multishot: one accept per poll, each an item of the same stream.
    fn perform(&mut self) -> Performed {
        let (addr, len) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: both null: no address is written.
        unsafe { super::accept_now(&self.fd, addr, len, crate::driver::opcode::MORE) }
    }

    fn blocking_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.fd.raw())
    }

    /// Every connection accepted after the stream was dropped goes to the listener's queue.
    fn dispose(&mut self, cqe: &CqeResult) {
        if let Ok(raw) = cqe.result {
            // SAFETY: a successful accept returns a new fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
            // A multishot accept asks for no address (each result would overwrite it).
            self.keep.keep((fd, None));
        }
    }

    fn abandoned(&mut self, owner: &Owner) {
        self.keep.abandoned(owner);
    }
}

impl Multishot for AcceptMulti {}

/// Turns one multishot accept result into an owned fd.
fn take_fd(cqe: CqeResult) -> std::io::Result<OwnedFd> {
    let raw = cqe.result?;
    // SAFETY: a successful accept returns a new fd that nothing else owns; we take it once.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

/// The connections of one multishot accept at a time, for `Incoming` (`net/listener.rs`):
/// the accept is armed on the first poll and again after the kernel ended it.
#[derive(Default)]
pub(crate) struct AcceptStream {
    /// The accept in flight; `None` before the first poll and after the kernel ended one.
    op: Option<MultiOp<AcceptMulti>>,
}

impl AcceptStream {
    /// Whether an accept is in flight; false after a result that ended the kernel's stream.
    pub(crate) fn is_armed(&self) -> bool {
        self.op.is_some()
    }

    /// The next connection (or error) on the listening socket `fd`, arming an accept first if
    /// none is in flight; connections accepted after this stream is dropped go to `keep()`.
    /// `Ready(None)`: the kernel ended the accept without a result; poll again to re-arm.
    ///
    /// The listener and its queue are passed in rather than held, so an idle `Incoming` is
    /// one `Option`; `keep` is a closure so the queue's watch (an `Rc` clone) is made only
    /// when an accept is armed, not on every poll. A result that ended the kernel's stream is
    /// still returned first; the next poll arms a new accept.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        fd: &SharedFd,
        keep: impl FnOnce() -> KeepWatch<Connection>,
    ) -> Poll<Option<std::io::Result<OwnedFd>>> {
        let op = self.op.get_or_insert_with(|| accept_multi(fd, keep()));
        let next = ready!(op.poll_next(cx, |_, cqe| take_fd(cqe)));
        if op.is_done() {
            self.op = None;
        }
        Poll::Ready(next)
    }
}
