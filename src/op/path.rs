//! Paths the kernel reads while an op is in flight ([`OwnedPath`]), and the ops that read
//! nothing else: `MKDIRAT`, `UNLINKAT` and `RENAMEAT` ([`PathOp`]).
//!
//! A path op's entry points only at its NUL-terminated path(s). The kernel copies them in when
//! it consumes the entry: at the loop turn's submit, after the push returned, or whenever an
//! SQPOLL thread gets to it. The op owns them until its final completion all the same, as every
//! pointer an entry holds, since when that happens is the kernel's choice. Nothing
//! comes back but success or an errno, so the three ops share one type, one safety argument
//! and one output; [`PathCall`] says which call the path goes to. `OPENAT` and `STATX` read a
//! path too but return an fd or write a struct, so they have files of their own.
//!
//! Paths are relative to the process's working directory (`AT_FDCWD`), read when the kernel
//! issues the op, as for the `std::fs` calls these stand in for.
//!
//! # Dropped in flight
//!
//! The cancel is a race: the directory may still be made, the name removed or moved. Nothing
//! comes back to dispose of, and the paths are freed with the op data after the final
//! completion.
//!
//! # Kernels and the readiness backend
//!
//! `UNLINKAT` and `RENAMEAT` came with Linux 5.11, the runtime's minimum. `MKDIRAT` needs 5.15:
//! where the probe says the kernel lacks it ([`mkdir_on_ring`]), or it answers `EINVAL` for the
//! unknown opcode, `fs::create_dir` runs `mkdir(2)` on the blocking pool. On epoll each call
//! runs on the blocking pool ([`file_now`](super::file_now)): a path lookup may wait for a disk.

use super::heap::Heap;
use crate::driver::op_future::Op;
use crate::driver::opcode::{OpCode, Performed};
use io_uring::{opcode, squeue, types};
use std::ffi::CString;

/// A path on the heap, at an address that stays put while the op owning it moves, freed only
/// with the op data (after the final completion, even if the future was dropped).
pub(crate) struct OwnedPath {
    /// The `CString` value in its own allocation (see `new`); its bytes are what the kernel reads.
    path: Heap<CString>,
}

impl OwnedPath {
    /// Moves `path` into a `Heap` of its own. The `CString`'s bytes are already on the heap;
    /// the extra allocation keeps the `CString` value itself from being moved (and re-asserted
    /// unique, see `heap.rs`) while the kernel holds a pointer into it.
    pub(crate) fn new(path: CString) -> Self {
        OwnedPath {
            path: Heap::new(path),
        }
    }

    /// The address handed to the kernel; valid until `self` is dropped.
    pub(crate) fn as_ptr(&self) -> *const libc::c_char {
        self.path.get().as_ptr()
    }
}

/// The data of an op that only reads paths: the path, and which call it goes to.
pub(crate) struct PathOp {
    /// The name the call acts on (for a rename, the existing one).
    path: OwnedPath,
    /// The call, with what else it reads.
    call: PathCall,
}

/// Which call a [`PathOp`] makes.
pub(crate) enum PathCall {
    /// `mkdirat(2)` with these permission bits, which the process's umask then narrows.
    MkDir(libc::mode_t),
    /// `unlinkat(2)` with these flags: 0 removes any name but a directory's, `AT_REMOVEDIR`
    /// only an empty directory's (`rmdir(2)`).
    Unlink(i32),
    /// `renameat2(2)` with no flags: the path moves to this name, which is replaced atomically
    /// if it exists (an existing directory only if empty, and only by a directory). The second
    /// path the kernel reads.
    Rename(OwnedPath),
}

/// Creates the directory `path` with permission bits `mode` (`mkdirat(AT_FDCWD, path, mode)`).
pub(crate) fn mkdir_at(path: CString, mode: libc::mode_t) -> Op<PathOp> {
    PathOp::op(path, PathCall::MkDir(mode))
}

/// Whether `MKDIRAT` may go to the ring: `false` where the kernel's probe lacks it (before
/// Linux 5.15, see `driver/uring/probe.rs`).
pub(crate) fn mkdir_on_ring() -> bool {
    !crate::driver::kernel_lacks(opcode::MkDirAt::CODE)
}

/// Removes the name `path` (`unlinkat(AT_FDCWD, path, flags)`).
pub(crate) fn unlink_at(path: CString, flags: i32) -> Op<PathOp> {
    PathOp::op(path, PathCall::Unlink(flags))
}

/// Moves the name `from` to `to` (`renameat2(AT_FDCWD, from, AT_FDCWD, to, 0)`).
pub(crate) fn rename_at(from: CString, to: CString) -> Op<PathOp> {
    PathOp::op(from, PathCall::Rename(OwnedPath::new(to)))
}

impl PathOp {
    /// The op, unsubmitted; the path moves to the heap now, once, never on a poll.
    fn op(path: CString, call: PathCall) -> Op<PathOp> {
        Op::new(PathOp {
            path: OwnedPath::new(path),
            call,
        })
    }
}

// SAFETY: the entry points at the path in `self.path` and, for a rename, at the one in the
// `PathCall::Rename`: heap allocations owned by the op that do not move when it moves and are
// freed with the op data after the final completion. The kernel only reads them.
unsafe impl OpCode for PathOp {
    fn sqe(&mut self) -> squeue::Entry {
        let (cwd, path) = (types::Fd(libc::AT_FDCWD), self.path.as_ptr());
        match &self.call {
            PathCall::MkDir(mode) => opcode::MkDirAt::new(cwd, path).mode(*mode).build(),
            PathCall::Unlink(flags) => opcode::UnlinkAt::new(cwd, path).flags(*flags).build(),
            PathCall::Rename(to) => opcode::RenameAt::new(cwd, path, cwd, to.as_ptr()).build(),
        }
    }

    /// On epoll: on the blocking pool, which only the pointers (not the op) go to; the op data
    /// outlives the call even if the future is dropped (`driver/epoll/offload.rs`).
    fn perform(&mut self) -> Performed {
        let (cwd, path) = (libc::AT_FDCWD, self.path.as_ptr());
        match self.call {
            // SAFETY: `path` is this op's owned NUL-terminated path.
            PathCall::MkDir(mode) => unsafe {
                super::file_now(move || libc::mkdirat(cwd, path, mode) as isize)
            },
            // SAFETY: as for `MkDir`.
            PathCall::Unlink(flags) => unsafe {
                super::file_now(move || libc::unlinkat(cwd, path, flags) as isize)
            },
            PathCall::Rename(ref to) => {
                let to = to.as_ptr();
                // SAFETY: both are this op's owned NUL-terminated paths.
                unsafe { super::file_now(move || libc::renameat(cwd, path, cwd, to) as isize) }
            }
        }
    }
}

super::unit_output!(PathOp);
