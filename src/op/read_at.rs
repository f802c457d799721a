//! `READ` and `READ_FIXED` at an explicit file offset, into an owned buffer (`pread(2)`).
//!
//! The kernel writes from the buffer's start, up to its room; the result is how many bytes it
//! read, fewer at end of file (0 at or past it) or for a short read, which `complete` marks
//! initialized before handing the buffer back. A registered buffer (`FixedBuf`) is named by
//! its index (`READ_FIXED`), so the kernel skips pinning its pages for the read. `READ` needs
//! Linux 5.6 and `READ_FIXED` 5.1, both below the runtime's minimum.
//!
//! # Dropped in flight
//!
//! The read may still happen; its bytes land in the buffer, which the driver keeps with the op
//! data until the final completion and then frees (a `FixedBuf` goes back to its pool). A file
//! read has no side effect to record, except on the file position when `pos` is `u64::MAX`.
//!
//! # The readiness backend
//!
//! `pread(2)` (or `read(2)` at the file position) on the blocking pool: epoll cannot wait for a
//! file, and a read may wait for the disk.

use crate::buf::{BufResult, IoBufMut};
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// A positioned read's data: the kernel writes `buf` from its start, up to its capacity.
///
/// `write_at.rs` mirrors this file line for line; they stay two types because what differs
/// (the buffer trait, the opcodes, the syscall, marking bytes initialized) is most of what
/// there is, and a generic over a direction would hide which syscall runs.
pub(crate) struct ReadAt<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// The kernel's until the final completion; handed back by `complete` with the bytes read
    /// marked initialized.
    buf: B,
    /// The file offset. `u64::MAX` is the kernel's -1, "the file position" (which `perform`
    /// mirrors with a plain `read`); `fs` refuses other offsets past `i64::MAX` beforehand.
    /// The kernel reads the position when it issues the read and moves it at the completion,
    /// so two reads at the position in flight at once may read the same bytes: it orders
    /// nothing. Explicit offsets have no such race.
    pos: u64,
    /// The registered buffer's index, for `READ_FIXED`: the kernel checks that the buffer lies
    /// in the memory registered there (`EFAULT` otherwise, see `fixed.rs`).
    fixed: Option<u16>,
}

/// Reads into `buf` from `fd` at offset `pos`.
pub(crate) fn read_at<B: IoBufMut>(fd: &SharedFd, buf: B, pos: u64) -> Op<ReadAt<B>> {
    Op::new(ReadAt {
        fd: fd.clone(),
        buf,
        pos,
        fixed: None,
    })
}

/// Reads into the registered buffer `buf` from `fd` at offset `pos`; `Err(buf)` if `buf` is not
/// a registered buffer (the caller turns that into `InvalidInput`, handing the buffer back).
/// Registered buffers save the kernel pinning the pages on each read: worth it for many
/// reads into the same memory.
pub(crate) fn read_fixed_at<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    pos: u64,
) -> Result<Op<ReadAt<B>>, B> {
    match buf.fixed_index() {
        Some(index) => Ok(Op::new(ReadAt {
            fd: fd.clone(),
            buf,
            pos,
            fixed: Some(index),
        })),
        None => Err(buf),
    }
}

// SAFETY: the entry points at `bytes_total` bytes of `self.buf`, kept valid, writable and in
// place by its `IoBufMut` contract (and, for a registered buffer, by the pool it belongs to)
// while the op owns it. The file is kept open by the `SharedFd` clone in `self.fd`.
unsafe impl<B: IoBufMut> OpCode for ReadAt<B> {
    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        let ptr = self.buf.stable_mut_ptr();
        match self.fixed {
            Some(index) => opcode::ReadFixed::new(self.fd.types_fd(), ptr, len, index)
                .offset(self.pos)
                .build(),
            None => opcode::Read::new(self.fd.types_fd(), ptr, len)
                .offset(self.pos)
                .build(),
        }
    }

    /// On epoll: on the blocking pool (see the module docs); the buffer stays with the op data
    /// until the call returns, even if the future is dropped meanwhile.
    fn perform(&mut self) -> Performed {
        let (fd, ptr, len, pos) = (
            self.fd.raw(),
            self.buf.stable_mut_ptr(),
            self.buf.bytes_total(),
            self.pos,
        );
        // SAFETY: `ptr` is valid for `len` writable bytes (the buffer's `IoBufMut` contract);
        // the fd is kept open by `self.fd`. Offset `u64::MAX` means "the file position".
        unsafe {
            super::file_now(move || match i64::try_from(pos) {
                Ok(pos) => libc::pread(fd, ptr.cast(), len, pos),
                Err(_) => libc::read(fd, ptr.cast(), len),
            })
        }
    }
}

impl<B: IoBufMut> Oneshot for ReadAt<B> {
    type Output = BufResult<usize, B>;

    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let result = cqe.result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes from the buffer's start, `n` <= the length given.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (result, self.buf)
    }
}
