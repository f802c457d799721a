//! `CLOSE`: close an fd through the ring and report the result (a file's delayed write-back
//! error surfaces here, as from `close(2)`).
//!
//! The op owns the fd. Once the kernel has seen the close, the fd is released whatever the
//! result (Linux frees the descriptor even when `close` reports an error), so `complete` and
//! `dispose` forget it rather than close it twice. If the entry never reached the kernel (the
//! runtime was shutting down), the fd is closed synchronously instead.

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

/// Closes `fd` through the ring.
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

    fn dispose(&mut self, _cqe: &CqeResult) {
        if let Some(fd) = self.fd.take() {
            // The kernel closed it (the close was in flight when the future went).
            let _ = fd.into_raw_fd();
        }
    }
}

impl Oneshot for Close {
    type Output = io::Result<()>;

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
