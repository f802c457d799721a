//! The contract between an operation's data and the driver: [`OpCode`], the trait each opcode in
//! `src/op/` implements (`unsafe`: its entry's pointers must stay valid), the completion it is
//! given ([`CqeResult`]), what the readiness backend makes of it ([`Performed`]), and the
//! [`Abandoned`] view the driver keeps of a dropped op's data.
//!
//! The futures built on it are in `op_future.rs` ([`Op`](super::op_future::Op), one result) and
//! `multishot.rs` ([`MultiOp`](super::multishot::MultiOp), a stream of results).
//!
//! # Adding an opcode
//!
//! One file in `src/op/`: a struct owning everything the entry points at (buffers behind
//! `IoBuf`/`IoBufMut`, paths and sockaddrs in `op/heap.rs`'s `Heap`, a `SharedFd` clone for
//! each fd), a constructor returning `Op<Self>` (or the data, for a caller that wraps it), an
//! `unsafe impl OpCode` whose `// SAFETY:` says why each pointer in `sqe` stays valid, and
//! `Oneshot` or `Multishot`. Then ask, in order:
//!
//! * does the op create something (an fd, a connection) the caller must not lose if the future
//!   is dropped? Override `dispose` to close or keep it;
//! * can it run on epoll? Override `perform` (non-blocking syscall, or `Performed::Blocking`
//!   for a file), and `blocking_fd` if its syscall has no non-blocking flag;
//! * can the kernel hold it past any cancel (zero-copy send)? Override `shut_down`.
//!
//! The driver never learns about the new type: it sees an entry, a slot and `dyn Abandoned`,
//! so adding an op never edits the driver (no enum of op kinds to extend for cancel or drop).
//!
//! # The two backends, one contract
//!
//! Each op states its work twice: as an entry (`sqe`) for io_uring, and as a non-blocking
//! syscall (`perform`) for epoll. Both get the same data and end in the same `CqeResult`, so
//! `Oneshot::complete` (and a multishot owner's closure) cannot tell which backend ran it, and
//! the layers above `op/` never ask. What differs is who holds the data's memory between
//! polls: the kernel on io_uring (hence `unsafe`, and the slot that keeps a dropped op's data),
//! nobody on epoll (the syscall has returned by the time the poll does).

use super::DriverCell;
use io_uring::{cqueue, squeue};
use std::io;
use std::os::fd::RawFd;

/// One completion: the result (negative errno already turned into an `io::Error`) and its flags.
///
/// Also what the readiness backend and the submission-failure paths produce, shaped as a
/// completion would be, so every op has one result type to interpret whatever happened.
#[derive(Debug)]
pub(crate) struct CqeResult {
    /// The CQE's `res`: a count or fd on success. `u32` because a non-negative `i32` always
    /// fits, and so no op has to re-check the sign.
    pub(crate) result: io::Result<u32>,
    /// The CQE's flags: `F_MORE` (more completions follow), `F_NOTIF` (a zero-copy send let go
    /// of its buffer), `F_BUFFER` with the provided buffer's id in the top 16 bits.
    pub(crate) flags: u32,
}

impl CqeResult {
    /// The one place a kernel result becomes an `io::Result` (invariant 4 in
    /// `docs/ARCHITECTURE.md`): an op never sees a raw negative `res`, so none can mistake an
    /// errno for a byte count.
    pub(crate) fn from_raw(res: i32, flags: u32) -> Self {
        let result = if res >= 0 {
            Ok(res as u32)
        } else {
            Err(io::Error::from_raw_os_error(-res))
        };
        CqeResult { result, flags }
    }

    /// A failure that happened before the kernel saw the operation (a push refused, a scope
    /// that cancelled before submission, a readiness-backend error). No flags: in particular
    /// no `F_MORE`, so a stream given one ends there.
    pub(crate) fn from_error(err: io::Error) -> Self {
        CqeResult {
            result: Err(err),
            flags: 0,
        }
    }

    /// `IORING_CQE_F_MORE`: the op is still in flight after this completion (a multishot item,
    /// or a zero-copy send's result before its notification).
    pub(crate) fn has_more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// `IORING_CQE_F_NOTIF`: a zero-copy send's second completion, saying the kernel is done
    /// reading the buffer. Its `res` is not the send's result.
    pub(crate) fn is_notification(&self) -> bool {
        cqueue::notif(self.flags)
    }

    /// The provided buffer the kernel picked for this result, if any.
    pub(crate) fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// Which readiness an op that would block waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Data (or a connection, or end of stream) to take: `EPOLLIN`, `EPOLLRDHUP`, `EPOLLPRI`.
    Read,
    /// Room to send (or a connect finished): `EPOLLOUT`.
    Write,
}

/// What performing an op at once (the readiness backend) gave.
#[derive(Debug)]
pub(crate) enum Performed {
    /// The syscall ran (or failed): its result, shaped as a completion would be. A multishot
    /// op's item carries `IORING_CQE_F_MORE` unless it ends the stream.
    Done(CqeResult),
    /// `fd` is not ready for `Interest`: wait for it, then perform again.
    WouldBlock(RawFd, Interest),
    /// A call that may block (a file's): run it on the blocking pool; its result is the op's.
    /// Never a socket's: a socket can wait for readiness, which costs no thread.
    Blocking(super::epoll::Syscall),
    /// As `Done`, and the stream read took everything there was (fewer bytes than room): the
    /// fd is not readable until epoll says so again, so the next read waits without a syscall.
    Drained(CqeResult, RawFd),
}

impl Performed {
    /// The outcome of a non-blocking syscall on `fd` that returned `rc` (negative: see errno).
    /// `EAGAIN` means wait; `flags` are given to a success (`F_MORE` for a stream's item).
    pub(crate) fn from_rc(rc: isize, fd: RawFd, interest: Interest, flags: u32) -> Performed {
        if rc >= 0 {
            return Performed::Done(CqeResult {
                result: Ok(u32::try_from(rc).unwrap_or(u32::MAX)),
                flags,
            });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EINPROGRESS) => Performed::WouldBlock(fd, interest),
            _ => Performed::Done(CqeResult::from_error(err)),
        }
    }

    /// Runs `call` (a non-blocking syscall on `fd`) again while a signal interrupts it. A
    /// non-blocking call interrupted before doing anything has nothing to resume, so
    /// retrying at once is right; surfacing `EINTR` would make every op handle it.
    pub(crate) fn retry(
        fd: RawFd,
        interest: Interest,
        flags: u32,
        mut call: impl FnMut() -> isize,
    ) -> Performed {
        loop {
            let rc = call();
            if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Performed::from_rc(rc, fd, interest, flags);
        }
    }
}

/// `IORING_CQE_F_MORE`: on a performed multishot item, "the stream goes on". Declared here
/// because the `io-uring` crate only offers a test of the flag (`cqueue::more`), and the
/// readiness backend must set it.
pub(crate) const MORE: u32 = 1 << 1;

/// The error of an op the readiness backend cannot perform.
pub(crate) fn unsupported_on_epoll(what: &str) -> CqeResult {
    CqeResult::from_error(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("coring: {what} needs io_uring, and this runtime runs on epoll"),
    ))
}

/// An io_uring opcode together with the data its submission entry points at: what every op
/// has, single-shot ([`Oneshot`], run by [`Op`](super::op_future::Op)) or multishot
/// ([`Multishot`], run by [`MultiOp`](super::multishot::MultiOp)). An op is one or the other,
/// so a multishot op cannot be awaited as a single result, nor a single-shot one streamed.
///
/// # Safety
///
/// Every pointer in the entry returned by `sqe` must point into memory owned by `self` that stays
/// valid and does not move when `self` is moved (heap memory: a buffer's heap bytes, a boxed
/// sockaddr or timespec), until `complete` consumes `self` or the driver drops the abandoned data
/// after the final completion. File descriptors in the entry must be kept open by `self` (a
/// `SharedFd` clone) for as long.
///
/// `'static` because the driver may keep the data past every borrow the caller had (a dropped
/// op's data lives in a slot until the kernel is done), so it cannot borrow anything.
pub(crate) unsafe trait OpCode: 'static {
    /// Builds the submission entry; `user_data` is set by the driver. `&mut self`: an entry
    /// may carry pointers the kernel writes through (a receive's buffer), which are taken from
    /// exclusive access to the data.
    fn sqe(&mut self) -> squeue::Entry;

    /// Performs the operation now, without blocking, on the op's own data (the readiness
    /// backend). File ops, whose calls may block and which epoll cannot wait on, hand their
    /// call to the blocking pool instead (`Performed::Blocking`); ops that need io_uring keep
    /// this default, which says so.
    fn perform(&mut self) -> Performed {
        Performed::Done(unsupported_on_epoll("this operation"))
    }

    /// The fd of an op whose syscall has no non-blocking flag (accept, connect): the readiness
    /// backend makes it non-blocking before the first attempt, whoever made the socket.
    fn blocking_fd(&self) -> Option<RawFd> {
        None
    }

    /// The fd and direction of an op that may skip its syscall while epoll has not reported
    /// the fd ready since it was last found drained (stream reads; see `Performed::Drained`).
    fn readiness(&self) -> Option<(RawFd, Interest)> {
        None
    }

    /// Disposes of a result nobody will take: the future was dropped. Ops whose result is a new
    /// fd close it here; ops that pick provided buffers give the buffer back.
    ///
    /// May run under the driver's borrow (from `dispatch`, `abandon`, `reap_orphans`), so it
    /// must not run user code or reach the driver: close an fd directly, count, or keep the
    /// thing for later (see the ground rules in `uring/mod.rs`).
    fn dispose(&mut self, cqe: &CqeResult) {
        let _ = cqe;
    }

    /// Called once when the future is dropped while the op is in flight, before the data moves
    /// to the driver: stream ops tell their stream to hold its next op back until this one's
    /// final completion (see `op/loss.rs`).
    ///
    /// Must not panic: it runs in `Drop` after the data left the future's state and before the
    /// driver has it, and an unwind from there would free memory the kernel may still write.
    fn abandoned(&mut self, owner: &Owner) {
        let _ = owner;
    }

    /// Called (perhaps more than once) on an abandoned op still unfinished a short while into
    /// its runtime's shutdown: an op that a cancel cannot end (a zero-copy send waiting for a
    /// peer to acknowledge) makes the kernel let go here. Runs under the driver's borrow: no
    /// user code.
    fn shut_down(&mut self) {}
}

/// A single-shot op: one submission, one final completion (two for a zero-copy send, whose
/// second only says the kernel let go of the buffer), one result.
pub(crate) trait Oneshot: OpCode {
    /// What the future resolves to.
    type Output;

    /// Turns the final result into the output, handing owned buffers back. Takes `self` by
    /// value: called only once the kernel is done with the data, it is the moment ownership
    /// returns to the caller (buffers with their initialised length set).
    fn complete(self, cqe: CqeResult) -> Self::Output;
}

/// A multishot op: one submission, a completion per item, each flagged `IORING_CQE_F_MORE`
/// but the last. Its items are read through [`MultiOp::poll_next`](super::multishot::MultiOp),
/// which hands each completion to the caller with the op's data; the op itself keeps no
/// result, so it has no `complete`.
pub(crate) trait Multishot: OpCode {}

/// The runtime whose ring an op was submitted to: only its loop can reap the op's completions.
/// Weak: the data that records it (see `op/loss.rs`) lives in that driver's slot once
/// abandoned, and a strong reference would be a cycle keeping the driver alive for ever.
pub(crate) type Owner = std::rc::Weak<DriverCell>;

/// The data of an op whose future was dropped in flight, kept by the driver until the end.
///
/// The part of an op the driver still needs after a drop, as a trait of its own so the slab
/// holds one box type for every op and the box offers no more than that: an abandoned op can
/// no longer build entries, perform, or complete.
pub(crate) trait Abandoned {
    /// Called with every completion that arrives after the future was dropped.
    fn dispose(&mut self, cqe: &CqeResult);

    /// See [`OpCode::shut_down`].
    fn shut_down(&mut self) {}
}

impl<T: OpCode> Abandoned for T {
    fn dispose(&mut self, cqe: &CqeResult) {
        OpCode::dispose(self, cqe)
    }

    fn shut_down(&mut self) {
        OpCode::shut_down(self)
    }
}
