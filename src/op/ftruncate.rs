//! `FTRUNCATE` (Linux 6.9): set a file's length.

use crate::driver::op_future::Op;
use crate::driver::opcode::Performed;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// An ftruncate's data: only the fd and the length (the entry points at nothing).
pub(crate) struct Ftruncate {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// The new length; over `i64::MAX` is `EINVAL`, as `ftruncate(2)` itself would say.
    len: u64,
}

/// `ftruncate(2)` through the ring. Kernels before 6.9 answer `EINVAL` (unknown opcode).
pub(crate) fn ftruncate(fd: &SharedFd, len: u64) -> Op<Ftruncate> {
    Op::new(Ftruncate {
        fd: fd.clone(),
        len,
    })
}

// SAFETY: the entry holds no pointers; the file is kept open by the `SharedFd` clone.
unsafe impl OpCode for Ftruncate {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(self.fd.types_fd(), self.len).build()
    }

    /// On epoll: done at once on the core thread (a file is always "ready").
    fn perform(&mut self) -> Performed {
        let fd = self.fd.raw();
        let Ok(len) = i64::try_from(self.len) else {
            return Performed::Done(CqeResult::from_raw(-libc::EINVAL, 0));
        };
        // SAFETY: plain syscall on an fd kept open by `self.fd`.
        unsafe { super::file_now(move || libc::ftruncate(fd, len) as isize) }
    }
}

super::unit_output!(Ftruncate);
