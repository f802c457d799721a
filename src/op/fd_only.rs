//! `FSYNC`, `FTRUNCATE` and `SHUTDOWN`: the ops whose entry names an fd and a number, and
//! nothing else.
//!
//! With no pointer in the entry, the one thing an [`FdOnly`] must keep alive is the fd, as a
//! `SharedFd` clone: closed and reused while the op is queued, the number would name another
//! file, which the kernel would then flush, truncate or shut down. The three ops share that
//! safety argument, their `io::Result<()>` output and having nothing to dispose of, so they are
//! one type; what differs is only which call the number goes with ([`Call`]).
//!
//! # Dropped in flight
//!
//! Nothing comes back to lose, but the call may still happen: all three need a blocking
//! context, which the kernel gives them on its io-wq worker threads, and a cancel takes one
//! back only if no worker has started it. So a dropped flush, truncation or shutdown has
//! usually happened anyway; a caller that needs to know must await it. The `SharedFd` clone
//! keeps the file open until the final completion, even if every other handle is dropped.
//!
//! # Kernels and the readiness backend
//!
//! `FSYNC` came with io_uring itself (5.1) and `SHUTDOWN` with 5.11, the runtime's minimum.
//! `FTRUNCATE` needs 6.9: older kernels answer `EINVAL` for the unknown opcode, and
//! `fs::File::set_len` then runs `ftruncate(2)` on the blocking pool instead. On epoll the two
//! file calls run on the blocking pool ([`file_now`](super::file_now): a disk may be slow, and
//! epoll cannot wait for a file); the shutdown runs at once, as it never blocks.

use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, Interest, OpCode, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types::FsyncFlags};
use std::net::Shutdown as How;

/// The data of an op that names only an fd: the fd, kept open, and which call to make on it.
pub(crate) struct FdOnly {
    /// The file or socket. A clone, so its number stays this file's until the op data is
    /// dropped after the final completion (see the module docs).
    fd: SharedFd,
    /// The call and its one argument.
    call: Call,
}

/// Which call an [`FdOnly`] makes, with its argument.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Call {
    /// `fsync(2)`: the file's data and metadata reach the device before the op completes.
    /// With `data_only`, `fdatasync(2)`: metadata that reading the data back does not need
    /// (timestamps) is not flushed, which saves a journal write on most filesystems.
    Fsync {
        /// `IORING_FSYNC_DATASYNC`.
        data_only: bool,
    },
    /// `ftruncate(2)` to this length. A `u64` because the entry's offset field is one; a value
    /// over `i64::MAX` reads as a negative length, which the kernel refuses with `EINVAL`, as
    /// `ftruncate(2)` would (`fs` refuses it before it gets here).
    Ftruncate(u64),
    /// `shutdown(2)` with `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`. Only the socket's directions
    /// close: the fd stays open for the clones that share it.
    Shutdown(i32),
}

/// Flushes `fd` to its device: `fsync(2)`, or `fdatasync(2)` if `data_only`.
pub(crate) fn fsync(fd: &SharedFd, data_only: bool) -> Op<FdOnly> {
    FdOnly::op(fd, Call::Fsync { data_only })
}

/// Sets the length of the file `fd` to `len` (Linux 6.9; `EINVAL` on older kernels, see the
/// module docs).
pub(crate) fn ftruncate(fd: &SharedFd, len: u64) -> Op<FdOnly> {
    FdOnly::op(fd, Call::Ftruncate(len))
}

/// Shuts down the `how` direction(s) of the connected socket `fd`.
pub(crate) fn shutdown(fd: &SharedFd, how: How) -> Op<FdOnly> {
    let how = match how {
        How::Read => libc::SHUT_RD,
        How::Write => libc::SHUT_WR,
        How::Both => libc::SHUT_RDWR,
    };
    FdOnly::op(fd, Call::Shutdown(how))
}

impl FdOnly {
    /// The op, unsubmitted: the fd's clone is taken now, so the number is pinned from the
    /// moment the caller has the future, not from its first poll.
    fn op(fd: &SharedFd, call: Call) -> Op<FdOnly> {
        Op::new(FdOnly {
            fd: fd.clone(),
            call,
        })
    }
}

// SAFETY: the entry carries no pointer, only the fd number and a scalar. The fd is kept open by
// the `SharedFd` clone in `self.fd` until the op data is dropped, after the final completion.
unsafe impl OpCode for FdOnly {
    fn sqe(&mut self) -> squeue::Entry {
        let fd = self.fd.types_fd();
        match self.call {
            Call::Fsync { data_only: false } => opcode::Fsync::new(fd).build(),
            Call::Fsync { data_only: true } => {
                opcode::Fsync::new(fd).flags(FsyncFlags::DATASYNC).build()
            }
            Call::Ftruncate(len) => opcode::Ftruncate::new(fd, len).build(),
            Call::Shutdown(how) => opcode::Shutdown::new(fd, how).build(),
        }
    }

    /// On epoll: the file calls on the blocking pool, the shutdown at once (it never blocks, so
    /// the `Write` interest is never waited for).
    fn perform(&mut self) -> Performed {
        let fd = self.fd.raw();
        match self.call {
            // SAFETY: no pointer is involved; the fd is kept open by `self.fd` until the op data
            // goes, which is after the pool thread returns (`driver/epoll/offload.rs`).
            Call::Fsync { data_only: false } => unsafe {
                super::file_now(move || libc::fsync(fd) as isize)
            },
            // SAFETY: as for `fsync`.
            Call::Fsync { data_only: true } => unsafe {
                super::file_now(move || libc::fdatasync(fd) as isize)
            },
            Call::Ftruncate(len) => match i64::try_from(len) {
                // SAFETY: as for `fsync`.
                Ok(len) => unsafe { super::file_now(move || libc::ftruncate(fd, len) as isize) },
                // What the kernel says of the negative length this would be.
                Err(_) => Performed::Done(CqeResult::from_raw(-libc::EINVAL, 0)),
            },
            // SAFETY: a plain syscall on an fd kept open by `self.fd`.
            Call::Shutdown(how) => Performed::retry(fd, Interest::Write, 0, || unsafe {
                libc::shutdown(fd, how) as isize
            }),
        }
    }
}

super::unit_output!(FdOnly);
