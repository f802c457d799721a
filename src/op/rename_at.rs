//! `RENAMEAT`: move a name to another, replacing it if it exists (`rename(2)`).

use super::path::OwnedPath;
use crate::driver::op_future::Op;
use crate::driver::opcode::OpCode;
use crate::driver::opcode::Performed;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;

/// A renameat's data: both paths, relative to the working directory.
pub(crate) struct RenameAt {
    /// The existing name; read by the kernel until the completion.
    from: OwnedPath,
    /// The new name, replaced atomically if it exists; read by the kernel until the completion.
    to: OwnedPath,
}

/// `renameat2(AT_FDCWD, from, AT_FDCWD, to, 0)`.
pub(crate) fn rename_at(from: CString, to: CString) -> Op<RenameAt> {
    Op::new(RenameAt {
        from: OwnedPath::new(from),
        to: OwnedPath::new(to),
    })
}

// SAFETY: the entry points at the two paths, heap allocations owned by the op that do not move
// when it moves and are freed with the op data after the final completion.
unsafe impl OpCode for RenameAt {
    fn sqe(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }

    /// On epoll: done at once on the core thread (a file is always "ready").
    fn perform(&mut self) -> Performed {
        let (from, to) = (self.from.as_ptr(), self.to.as_ptr());
        let cwd = libc::AT_FDCWD;
        // SAFETY: both paths are this op's owned NUL-terminated paths.
        unsafe { super::file_now(move || libc::renameat(cwd, from, cwd, to) as isize) }
    }
}

super::unit_output!(RenameAt);
