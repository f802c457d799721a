//! `OPENAT`: open a file by path, relative to the working directory.
//!
//! The path is owned by the op until its final completion. If the future is dropped and the open
//! completes anyway (the cancel lost the race), the new fd is closed in `dispose`, so a cancelled
//! open never leaks a descriptor.
//!
//! The kernel copies the path in when it consumes the entry and opens the file, on an io-wq
//! worker if the open may block (a lookup on a slow disk, `O_CREAT`, `O_TRUNC`). The result is
//! the new fd, which `complete` owns at once. `OPENAT` needs Linux 5.6, below the runtime's
//! minimum.

use super::path::OwnedPath;
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// An openat's data: the path, and how to open it.
pub(crate) struct OpenAt {
    /// Read by the kernel when it consumes the entry (at the turn's enter, after the push
    /// returned); kept to the final completion like all op data.
    path: OwnedPath,
    /// `O_*` flags from `OpenOptions`.
    flags: i32,
    /// Permission bits for a file `O_CREAT` makes, before the umask.
    mode: libc::mode_t,
}

/// Opens `path` with `open(2)` `flags` (`O_CLOEXEC` is always added) and creation `mode`.
///
/// `O_CLOEXEC` always, as std does: without it the fd would leak into every program a
/// `Command` spawns, from any thread, for as long as the file is open.
pub(crate) fn open_at(path: CString, flags: i32, mode: libc::mode_t) -> Op<OpenAt> {
    Op::new(OpenAt {
        path: OwnedPath::new(path),
        flags: flags | libc::O_CLOEXEC,
        mode,
    })
}

// SAFETY: the entry points only at the path, in `self.path`, a heap allocation owned by this op
// that does not move when the op moves and is freed with the op data after the final completion.
unsafe impl OpCode for OpenAt {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    /// On epoll: on the blocking pool (epoll cannot wait for a file, and an open may block on
    /// the disk). A future dropped meanwhile leaves the data with the driver until the call
    /// returns, and the fd it returned is closed by `dispose`.
    fn perform(&mut self) -> Performed {
        let (path, flags, mode) = (self.path.as_ptr(), self.flags, self.mode);
        // SAFETY: `path` is this op's owned NUL-terminated path.
        unsafe { super::file_now(move || libc::openat(libc::AT_FDCWD, path, flags, mode) as isize) }
    }

    fn dispose(&mut self, cqe: &CqeResult) {
        if let Ok(raw) = cqe.result {
            // SAFETY: a successful open returns a new fd that nothing else owns; nobody will
            // take it, so it is closed here instead of leaking.
            drop(unsafe { OwnedFd::from_raw_fd(raw as i32) });
        }
    }
}

impl Oneshot for OpenAt {
    type Output = io::Result<OwnedFd>;

    /// The new fd, owned at once, so a caller that fails later (say, on a `metadata` call)
    /// closes it by dropping it.
    fn complete(self, cqe: CqeResult) -> Self::Output {
        let raw = cqe.result?;
        // SAFETY: a successful open returns a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
    }
}
