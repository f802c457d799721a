//! `MKDIRAT`: create a directory.

use super::path::OwnedPath;
use crate::driver::op_future::Op;
use crate::driver::opcode::OpCode;
use crate::driver::opcode::Performed;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;

/// A mkdirat's data: the path the kernel reads, relative to the working directory.
pub(crate) struct MkDirAt {
    /// Read by the kernel when it consumes the entry (at the turn's enter, after the push
    /// returned); kept to the final completion like all op data.
    path: OwnedPath,
    /// Permission bits, before the process's umask.
    mode: libc::mode_t,
}

/// `mkdirat(AT_FDCWD, path, mode)`.
pub(crate) fn mkdir_at(path: CString, mode: libc::mode_t) -> Op<MkDirAt> {
    Op::new(MkDirAt {
        path: OwnedPath::new(path),
        mode,
    })
}

// SAFETY: the entry points only at the path, a heap allocation owned by the op that does not
// move when it moves and is freed with the op data after the final completion.
unsafe impl OpCode for MkDirAt {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }

    /// On epoll: done at once on the core thread (a file is always "ready").
    fn perform(&mut self) -> Performed {
        let (path, mode) = (self.path.as_ptr(), self.mode);
        // SAFETY: `path` is this op's owned NUL-terminated path.
        unsafe { super::file_now(move || libc::mkdirat(libc::AT_FDCWD, path, mode) as isize) }
    }
}

super::unit_output!(MkDirAt);
