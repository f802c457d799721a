//! `CLOSE`: close an fd through the ring and report the result (a file's delayed write-back
//! error surfaces here, as from `close(2)`).
//!
//! The op owns the fd. Once the kernel has run the close, the fd is released whatever the
//! result (Linux frees the descriptor even when `close` reports an error, `EINTR` included), so
//! `complete` and `dispose` forget it rather than close it twice: by then its number may name
//! another file, opened since by any thread. If the entry never reached the kernel (the
//! runtime was shutting down), the fd is closed synchronously instead.
//!
//! # Dropped in flight
//!
//! The close usually runs at submission, before any cancel can reach it. A file with a
//! `flush` method (NFS, FUSE) is closed on an io-wq worker instead, and a cancel that gets
//! there before a worker does ends the op with `ECANCELED`, the fd still open: `dispose` then
//! closes it synchronously, so a dropped close never leaks the descriptor. (A close stopped
//! by a `timeout_op` deadline reaches `complete` with `ECANCELED` already turned into
//! `TimedOut`, indistinguishable there from the `EINTR` of a close that did run: that case
//! forgets the fd, a leak rather than a double close.)
//!
//! # The readiness backend
//!
//! `close(2)` at once, after the fd is removed from the epoll interest list (a closed fd's
//! registration would otherwise linger while another file reuses the number). Called once:
//! retrying after `EINTR` could close a reused number.

use crate::driver::cancel_scope;
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

/// A close's data: the fd itself, not a `SharedFd` (the caller gave up every other handle).
pub(crate) struct Close {
    /// `Some` until the close is over: taken by `perform`, or at the completion by `complete`
    /// or `dispose`, which forget it rather than close it again (its number may already name
    /// another file); `complete` closes it only if the entry never reached the kernel.
    fd: Option<OwnedFd>,
}

/// Closes `fd` through the ring. Only for an fd nothing else holds: `fs::File::close` first
/// takes it out of its `SharedFd`, and an fd an op in flight still holds is closed by the
/// last clone's drop instead, once that op ends.
pub(crate) fn close(fd: OwnedFd) -> Op<Close> {
    Op::new(Close { fd: Some(fd) })
}

// SAFETY: the entry holds no pointers, only the fd number, which the op owns until the kernel
// has closed it.
unsafe impl OpCode for Close {
    fn sqe(&mut self) -> squeue::Entry {
        let raw = self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        opcode::Close::new(types::Fd(raw)).build()
    }

    /// On epoll: closed at once (after forgetting any readiness registration).
    fn perform(&mut self) -> Performed {
        let Some(fd) = self.fd.take() else {
            return Performed::Done(CqeResult::from_raw(0, 0));
        };
        let raw = fd.into_raw_fd();
        crate::driver::try_with_current(|driver| driver.release_fd(raw));
        // SAFETY: `raw` came from the OwnedFd this op owned; nothing else closes it. Called
        // once: after EINTR the fd is closed anyway, and a retry could close a reused number.
        let rc = unsafe { libc::close(raw) };
        Performed::from_rc(rc as isize, raw, crate::driver::opcode::Interest::Read, 0)
    }

    /// The abandoned close's final completion: the kernel closed the fd, unless the cancel got
    /// to it first (see the module docs).
    fn dispose(&mut self, cqe: &CqeResult) {
        let Some(fd) = self.fd.take() else {
            return;
        };
        match &cqe.result {
            // Never run: the fd is still open and ours. Closed here, synchronously, rather than
            // leaked; `dispose` cannot push another op.
            Err(err) if err.raw_os_error() == Some(libc::ECANCELED) => drop(fd),
            _ => {
                let _ = fd.into_raw_fd();
            }
        }
    }
}

impl Oneshot for Close {
    type Output = io::Result<()>;

    /// The kernel's answer is the close's result, as `close(2)`'s would be: an error (`EIO`
    /// from a failed write-back on some filesystems) reports a problem, but the fd is gone.
    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let fd = self.fd.take();
        // The driver's own refusals (the entry never reached the kernel) carry a message, not
        // an errno: the fd is still open, so close it here. A kernel result, success or not
        // (`EINTR` too, even as the `TimedOut` a cancelling scope makes of it), means the fd
        // is gone: closing the number again could close another file opened since.
        if cqe
            .result
            .as_ref()
            .is_err_and(|e| e.raw_os_error().is_none() && !cancel_scope::reached_the_kernel(e))
        {
            drop(fd);
        } else if let Some(fd) = fd {
            let _ = fd.into_raw_fd();
        }
        cqe.result.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{FromRawFd, RawFd};

    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only reads the descriptor's flags; a closed fd gives EBADF.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    /// The inode `fd` names, if it is open: tells "still our file" from "the number was reused
    /// by a test running alongside".
    fn inode(fd: RawFd) -> Option<u64> {
        // SAFETY: `stat` is plain data (integers); all zeroes is a valid value.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fstat` writes one `struct stat` into the live local; a closed fd is EBADF.
        (unsafe { libc::fstat(fd, &mut stat) } == 0).then_some(stat.st_ino)
    }

    /// A close the cancel reached before an io-wq worker did (a file with a `flush` method)
    /// ends with `ECANCELED` and never ran: the abandoned op must close the fd, not forget it.
    #[test]
    fn a_dropped_close_the_cancel_stopped_still_closes_the_fd() {
        let (ours, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = ours.as_raw_fd();
        let ino = inode(raw);
        let mut op = Close {
            fd: Some(OwnedFd::from(ours)),
        };
        op.dispose(&CqeResult::from_raw(-libc::ECANCELED, 0));
        drop(op);
        let leaked = inode(raw).is_some() && inode(raw) == ino;
        if leaked {
            // SAFETY: still our socket, which nothing owns any more: close it after all.
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
        }
        assert!(!leaked, "the fd of a close the kernel never ran was leaked");
    }

    /// Linux frees the descriptor even when `close` fails with `EINTR`; closing the number again
    /// could close an unrelated file opened since. A cancelling scope (a `timeout_op` whose
    /// deadline passed while the close was in flight) turns the kernel's `EINTR` into
    /// `TimedOut`; the op must still see that the kernel had the close.
    #[test]
    fn a_close_interrupted_in_a_cancelled_scope_is_not_closed_again() {
        let fd = std::fs::File::open("/dev/null").unwrap();
        let raw = fd.as_raw_fd();
        let op = Close {
            fd: Some(OwnedFd::from(fd)),
        };
        // The fd stays open here, as if another file had been given the number since.
        let result = op.complete(cancel_scope::after_cancel(CqeResult::from_raw(
            -libc::EINTR,
            0,
        )));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(
            is_open(raw),
            "the close was repeated on an fd the kernel had freed"
        );
        // SAFETY: the fd is still open and nothing else owns it (the op forgot it).
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
    }
}
