//! `CLOSE`: close an fd through the ring and report the result (a file's delayed write-back
//! error surfaces here, as from `close(2)`).
//!
//! The op owns the fd. Once the kernel has seen the close, the fd is released whatever the
//! result (Linux frees the descriptor even when `close` reports an error), so `complete` and
//! `dispose` forget it rather than close it twice. If the entry never reached the kernel (the
//! runtime was shutting down), the fd is closed synchronously instead.

use crate::driver::op::Performed;
use crate::driver::op::{CqeResult, Op, OpCode};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

pub(crate) struct Close {
    fd: Option<OwnedFd>,
}

/// Closes `fd` through the ring.
pub(crate) fn close(fd: OwnedFd) -> Op<Close> {
    Op::new(Close { fd: Some(fd) })
}

// SAFETY: the entry holds no pointers, only the fd number, which the op owns until the kernel
// has closed it.
unsafe impl OpCode for Close {
    type Output = io::Result<()>;

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
        Performed::from_rc(rc as isize, raw, crate::driver::op::Interest::Read, 0)
    }

    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let fd = self.fd.take();
        // The driver's own refusals (the entry never reached the kernel) carry a message, not
        // an errno: the fd is still open, so close it here. A kernel result, success or not,
        // means the fd is gone.
        if cqe
            .result
            .as_ref()
            .is_err_and(|e| e.raw_os_error().is_none())
        {
            drop(fd);
        } else if let Some(fd) = fd {
            let _ = fd.into_raw_fd();
        }
        cqe.result.map(drop)
    }

    fn dispose(&mut self, _cqe: &CqeResult) {
        if let Some(fd) = self.fd.take() {
            // The kernel closed it (the close was in flight when the future went).
            let _ = fd.into_raw_fd();
        }
    }
}
