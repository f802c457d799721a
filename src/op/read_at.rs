//! `READ` and `READ_FIXED` at an explicit file offset, into an owned buffer (`pread(2)`).

use crate::buf::{BufResult, IoBufMut};
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// A positioned read's data: the kernel writes `buf` from its start, up to its capacity.
pub(crate) struct ReadAt<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// The kernel's until the final completion; handed back by `complete` with the bytes read
    /// marked initialized.
    buf: B,
    /// The file offset. `u64::MAX` is the kernel's -1, "the file position" (which `perform`
    /// mirrors with a plain `read`); `fs` refuses other offsets past `i64::MAX` beforehand.
    pos: u64,
    /// The registered buffer's index, for `READ_FIXED`.
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
/// a registered buffer.
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

    /// On epoll: done at once on the core thread (a file is always "ready").
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
