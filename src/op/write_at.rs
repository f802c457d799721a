//! `WRITE` and `WRITE_FIXED` at an explicit file offset, from an owned buffer (`pwrite(2)`).
//!
//! Unlike sockets (see `fixed.rs`), a file write raises no `SIGPIPE`, so registered buffers go
//! out through `WRITE_FIXED` itself.
//!
//! The kernel reads the buffer's initialized bytes; the result is how many it wrote, which may
//! be fewer (a full disk, a signal), and the caller writes the rest (`write_all_at`). The
//! buffer comes back unchanged. `WRITE` needs Linux 5.6 and `WRITE_FIXED` 5.1, both below the
//! runtime's minimum.
//!
//! # Dropped in flight
//!
//! The cancel is a race: the bytes may still reach the file, at `pos` (or at the file position,
//! which then moves). Nothing comes back to dispose of; the buffer stays with the op data in
//! the driver's slot until the final completion.
//!
//! # The readiness backend
//!
//! `pwrite(2)` (or `write(2)` at the file position) on the blocking pool: epoll cannot wait for
//! a file, and a write may wait for the disk.

use crate::buf::{BufResult, IoBuf};
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// A positioned write's data: the kernel reads `buf`'s initialized bytes. The mirror of
/// `ReadAt` (see there why they are two types).
pub(crate) struct WriteAt<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// Read by the kernel until the final completion, then handed back unchanged.
    buf: B,
    /// The file offset. `u64::MAX` is the kernel's -1, "the file position" (which `perform`
    /// mirrors with a plain `write`); an `O_APPEND` file is written at its end whatever this is.
    /// As for reads, two writes at the file position in flight at once are not ordered by the
    /// kernel and may write over each other; explicit offsets have no such race.
    pos: u64,
    /// The registered buffer's index, for `WRITE_FIXED`: the kernel checks that the buffer lies
    /// in the memory registered there (`EFAULT` otherwise).
    fixed: Option<u16>,
}

/// Writes the initialized bytes of `buf` to `fd` at offset `pos`.
pub(crate) fn write_at<B: IoBuf>(fd: &SharedFd, buf: B, pos: u64) -> Op<WriteAt<B>> {
    Op::new(WriteAt {
        fd: fd.clone(),
        buf,
        pos,
        fixed: None,
    })
}

/// Writes the registered buffer `buf` to `fd` at offset `pos`; `Err(buf)` if `buf` is not a
/// registered buffer.
pub(crate) fn write_fixed_at<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    pos: u64,
) -> Result<Op<WriteAt<B>>, B> {
    match buf.fixed_index() {
        Some(index) => Ok(Op::new(WriteAt {
            fd: fd.clone(),
            buf,
            pos,
            fixed: Some(index),
        })),
        None => Err(buf),
    }
}

// SAFETY: the entry points at `bytes_init` initialized bytes of `self.buf`, kept valid and in
// place by its `IoBuf` contract (and, for a registered buffer, by the pool it belongs to) while
// the op owns it. The file is kept open by the `SharedFd` clone in `self.fd`.
unsafe impl<B: IoBuf> OpCode for WriteAt<B> {
    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        let ptr = self.buf.stable_ptr();
        match self.fixed {
            Some(index) => opcode::WriteFixed::new(self.fd.types_fd(), ptr, len, index)
                .offset(self.pos)
                .build(),
            None => opcode::Write::new(self.fd.types_fd(), ptr, len)
                .offset(self.pos)
                .build(),
        }
    }

    /// On epoll: on the blocking pool (see the module docs); the buffer stays with the op data
    /// until the call returns, even if the future is dropped meanwhile.
    fn perform(&mut self) -> Performed {
        let (fd, ptr, len, pos) = (
            self.fd.raw(),
            self.buf.stable_ptr(),
            self.buf.bytes_init(),
            self.pos,
        );
        // SAFETY: `ptr` is valid for `len` initialized bytes (the buffer's `IoBuf` contract);
        // the fd is kept open by `self.fd`. Offset `u64::MAX` means "the file position".
        unsafe {
            super::file_now(move || match i64::try_from(pos) {
                Ok(pos) => libc::pwrite(fd, ptr.cast(), len, pos),
                Err(_) => libc::write(fd, ptr.cast(), len),
            })
        }
    }
}

impl<B: IoBuf> Oneshot for WriteAt<B> {
    type Output = BufResult<usize, B>;

    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe.result.map(|n| n as usize), self.buf)
    }
}
