//! Multishot `ACCEPT`: one submission, a completion per incoming connection.

use super::keep::{Connection, KeepWatch};
use crate::driver::multishot::MultiOp;
use crate::driver::opcode::Performed;
use crate::driver::opcode::{CqeResult, OpCode, Owner};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::os::fd::{FromRawFd, OwnedFd};

pub(crate) struct AcceptMulti {
    fd: SharedFd,
    /// Where connections accepted after the stream was dropped go.
    keep: KeepWatch<Connection>,
}

/// Accepts connections on the listening socket `fd` until the kernel ends the stream; those
/// accepted after the stream was dropped go to `keep`.
pub(crate) fn accept_multi(fd: &SharedFd, keep: KeepWatch<Connection>) -> MultiOp<AcceptMulti> {
    MultiOp::new(AcceptMulti {
        fd: fd.clone(),
        keep,
    })
}

// SAFETY: the entry carries no pointer (no peer address is asked for); the listening socket is
// kept open by the `SharedFd` clone for as long as this op's data lives.
unsafe impl OpCode for AcceptMulti {
    type Output = ();

    const MULTISHOT: bool = true;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::AcceptMulti::new(self.fd.types_fd())
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    /// Emulated multishot: one accept per poll, each an item of the same stream.
    fn perform(&mut self) -> Performed {
        let (addr, len) = (std::ptr::null_mut(), std::ptr::null_mut());
        super::accept_now(&self.fd, addr, len, crate::driver::opcode::MORE)
    }

    fn blocking_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.fd.raw())
    }

    fn complete(self, _cqe: CqeResult) {}

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

/// Turns one multishot accept result into an owned fd.
pub(crate) fn take_fd(cqe: CqeResult) -> std::io::Result<OwnedFd> {
    let raw = cqe.result?;
    // SAFETY: a successful accept returns a new fd that nothing else owns; we take it once.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}
