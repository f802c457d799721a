//! `SHUTDOWN`: shut down one or both directions of a connected socket.

use crate::driver::op_future::Op;
use crate::driver::opcode::OpCode;
use crate::driver::opcode::{Interest, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::net::Shutdown as How;

/// A shutdown's data: only the fd and the direction (the entry points at nothing).
pub(crate) struct Shutdown {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`, from `std::net::Shutdown`.
    how: i32,
}

/// Shuts down the `how` direction(s) of `fd`.
pub(crate) fn shutdown(fd: &SharedFd, how: How) -> Op<Shutdown> {
    let how = match how {
        How::Read => libc::SHUT_RD,
        How::Write => libc::SHUT_WR,
        How::Both => libc::SHUT_RDWR,
    };
    Op::new(Shutdown {
        fd: fd.clone(),
        how,
    })
}

// SAFETY: the entry carries no pointers; the socket is kept open by the `SharedFd` clone in
// `self.fd` until the op data is dropped after its completion.
unsafe impl OpCode for Shutdown {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Shutdown::new(self.fd.types_fd(), self.how).build()
    }

    fn perform(&mut self) -> Performed {
        let fd = self.fd.raw();
        // SAFETY: plain syscall on an fd kept open by `self.fd`.
        Performed::retry(fd, Interest::Write, 0, || unsafe {
            libc::shutdown(fd, self.how) as isize
        })
    }
}

super::unit_output!(Shutdown);
