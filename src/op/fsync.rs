//! `FSYNC`: flush a file's data (and, unless `DATASYNC`, its metadata) to the device.

use crate::driver::op_future::Op;
use crate::driver::opcode::OpCode;
use crate::driver::opcode::Performed;
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types::FsyncFlags};

/// An fsync's data: only the fd (the entry points at nothing).
pub(crate) struct Fsync {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// `fdatasync`: skip metadata that reading the data back does not need (timestamps).
    data_only: bool,
}

/// `fsync(2)`, or `fdatasync(2)` if `data_only`.
pub(crate) fn fsync(fd: &SharedFd, data_only: bool) -> Op<Fsync> {
    Op::new(Fsync {
        fd: fd.clone(),
        data_only,
    })
}

// SAFETY: the entry holds no pointers; the file is kept open by the `SharedFd` clone.
unsafe impl OpCode for Fsync {
    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.data_only {
            FsyncFlags::DATASYNC
        } else {
            FsyncFlags::empty()
        };
        opcode::Fsync::new(self.fd.types_fd()).flags(flags).build()
    }

    /// On epoll: done at once on the core thread (a file is always "ready").
    fn perform(&mut self) -> Performed {
        let (fd, data_only) = (self.fd.raw(), self.data_only);
        // SAFETY: plain syscall on an fd kept open by `self.fd` until the call is done.
        unsafe {
            super::file_now(move || {
                (if data_only {
                    libc::fdatasync(fd)
                } else {
                    libc::fsync(fd)
                }) as isize
            })
        }
    }
}

super::unit_output!(Fsync);
