//! `STATX`: a file's metadata, by path or (with an empty path and `AT_EMPTY_PATH`) by fd.
//!
//! The kernel writes a `statx` struct into a heap allocation owned by the op, and reads the
//! path from another; both live until the final completion.
//!
//! Only `STATX_BASIC_STATS` is asked for (what `stat(2)` gives); the kernel may fill more, and
//! says in `stx_mask` what it filled, which `fs::Metadata` checks before reading a timestamp.
//!
//! # Dropped in flight
//!
//! Nothing happens but the lookup: the output goes with the op data, freed after the final
//! completion. `STATX` needs Linux 5.6, below the runtime's minimum.

use super::heap::Heap;
use super::path::OwnedPath;
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::ffi::CString;
use std::io;

/// A statx's data: what to look up, and where the kernel writes the answer.
pub(crate) struct Statx {
    /// The file when stat'ing an open file; keeps it open while the kernel looks.
    fd: Option<SharedFd>,
    /// Read by the kernel until the completion; empty (with `AT_EMPTY_PATH`) to stat `fd`.
    path: OwnedPath,
    /// `AT_EMPTY_PATH` to stat the open file `fd` (the path is then empty), else 0.
    flags: i32,
    /// Written by the kernel; read only in `complete`, after the final completion.
    out: Heap<libc::statx>,
}

/// The output before the kernel writes it: read only after a successful completion, so the
/// zeroes are never mistaken for metadata.
fn zeroed_statx() -> libc::statx {
    // SAFETY: `statx` is plain data (integers and padding); all zeroes is a valid value.
    unsafe { std::mem::zeroed() }
}

/// The metadata of `path`, following symlinks (`std::fs::metadata`, not `symlink_metadata`).
pub(crate) fn statx_path(path: CString) -> Op<Statx> {
    Op::new(Statx {
        fd: None,
        path: OwnedPath::new(path),
        flags: 0,
        out: Heap::new(zeroed_statx()),
    })
}

/// The metadata of the open file `fd`: `AT_EMPTY_PATH` with an empty path asks about the fd
/// itself, so the answer is the open file's even if its name was renamed or removed since.
pub(crate) fn statx_fd(fd: &SharedFd) -> Op<Statx> {
    Op::new(Statx {
        fd: Some(fd.clone()),
        path: OwnedPath::new(CString::default()),
        flags: libc::AT_EMPTY_PATH,
        out: Heap::new(zeroed_statx()),
    })
}

// SAFETY: the entry points at the path in `self.path` and the output struct in `self.out`, heap
// allocations owned by the op that do not move when it moves and are freed with the op data after
// the final completion. The fd, if any, is kept open by the `SharedFd` clone in `self.fd`.
unsafe impl OpCode for Statx {
    fn sqe(&mut self) -> squeue::Entry {
        let dirfd = self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw);
        let out = self.out.as_ptr().cast::<types::statx>();
        opcode::Statx::new(types::Fd(dirfd), self.path.as_ptr(), out)
            .flags(self.flags)
            .mask(libc::STATX_BASIC_STATS)
            .build()
    }

    /// On epoll: on the blocking pool (epoll cannot wait for a file, and a lookup may block on
    /// the disk); the output is written into `self.out` by the pool thread.
    fn perform(&mut self) -> Performed {
        let dirfd = self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw);
        let (path, flags, out) = (self.path.as_ptr(), self.flags, self.out.as_ptr());
        // SAFETY: `path` and `out` are this op's owned path and result storage; a `dirfd` is
        // kept open by `self.fd`.
        unsafe {
            super::file_now(move || {
                libc::statx(dirfd, path, flags, libc::STATX_BASIC_STATS, out) as isize
            })
        }
    }
}

impl Oneshot for Statx {
    type Output = io::Result<libc::statx>;

    /// A copy of the struct the kernel wrote (plain data, 256 B), read only on success.
    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe.result?;
        Ok(*self.out.get())
    }
}
