//! `UNLINKAT`: remove a name (a file, or with `AT_REMOVEDIR` an empty directory).

use super::path::OwnedPath;
use crate::driver::op_future::Op;
use crate::driver::opcode::OpCode;
use crate::driver::opcode::Performed;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;

/// An unlinkat's data: the path the kernel reads, relative to the working directory.
pub(crate) struct UnlinkAt {
    /// Read by the kernel when it consumes the entry (at the turn's enter, after the push
    /// returned); kept to the final completion like all op data.
    path: OwnedPath,
    /// `AT_REMOVEDIR` to remove an empty directory (`rmdir`), 0 for anything else.
    flags: i32,
}

/// `unlinkat(AT_FDCWD, path, flags)`.
pub(crate) fn unlink_at(path: CString, flags: i32) -> Op<UnlinkAt> {
    Op::new(UnlinkAt {
        path: OwnedPath::new(path),
        flags,
    })
}

// SAFETY: the entry points only at the path, a heap allocation owned by the op that does not
// move when it moves and is freed with the op data after the final completion.
unsafe impl OpCode for UnlinkAt {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .build()
    }

    /// On epoll: done at once on the core thread (a file is always "ready").
    fn perform(&mut self) -> Performed {
        let (path, flags) = (self.path.as_ptr(), self.flags);
        // SAFETY: `path` is this op's owned NUL-terminated path.
        unsafe { super::file_now(move || libc::unlinkat(libc::AT_FDCWD, path, flags) as isize) }
    }
}

super::unit_output!(UnlinkAt);
