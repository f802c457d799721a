//! I/O through a registered buffer: `READ_FIXED` names it by index, so the kernel skips
//! mapping the pages on every read.
//!
//! Writes are a plain `SEND` with `MSG_NOSIGNAL` of the same memory, not `WRITE_FIXED`: that is a
//! `write(2)`, which raises `SIGPIPE` on a closed peer and kills a process that has not ignored
//! it. A send cannot name a registered buffer without going zero-copy (`SEND_ZC`, with its
//! second completion): Linux 6.18 refuses `IORING_RECVSEND_FIXED_BUF` on `SEND` with `EINVAL`
//! (measured). A socket write copies the bytes either way, so little is lost.
//!
//! # What the kernel checks
//!
//! `READ_FIXED` names the buffer by its index in the ring's registered-buffer table and gives
//! its address; the kernel checks that the address range lies inside the memory registered
//! at that index and fails with `EFAULT` otherwise, before reading anything. So a buffer from
//! another runtime's pool (another ring's table) is refused, never written through the wrong
//! mapping; `complete` turns that `EFAULT` into an error saying which runtime a `FixedBuf`
//! serves.
//!
//! # Dropped in flight
//!
//! The stream runs the read `Tracked` (`loss.rs`), which records bytes a dropped read took.
//! The buffer stays with the op data in the driver's slot until the final completion, and
//! only then goes back to its pool (a `FixedBuf` checks itself in when dropped), so the pool
//! never hands out memory the kernel may still write.
//!
//! # The readiness backend
//!
//! A registered buffer is plain memory there: `read(2)` into it, waiting for readability on
//! `EAGAIN`, and the write is the plain send it is on the ring.

use super::send::Send;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::opcode::{CqeResult, Oneshot, OpCode};
use crate::driver::opcode::{Interest, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::io;

/// A registered-buffer read's data.
pub(crate) struct ReadFixed<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// A buffer from a `FixedBufPool`: its memory is registered with the ring, so the kernel
    /// skips pinning its pages per read. The kernel's until the final completion.
    buf: B,
    /// Its index in the ring's registered-buffer table, which `READ_FIXED` names.
    index: u16,
}

/// Reads from the socket `fd` into the registered buffer `buf`, from its start up to its room;
/// `Err(buf)` if `buf` is not a registered buffer.
pub(crate) fn read_fixed<B: IoBufMut>(fd: &SharedFd, buf: B) -> Result<ReadFixed<B>, B> {
    match buf.fixed_index() {
        Some(index) => Ok(ReadFixed {
            fd: fd.clone(),
            buf,
            index,
        }),
        None => Err(buf),
    }
}

/// A plain send of a registered buffer's memory (see the module docs); `Err(buf)` if `buf` is
/// not a registered buffer.
pub(crate) fn write_fixed<B: IoBuf>(fd: &SharedFd, buf: B) -> Result<Send<B>, B> {
    match buf.fixed_index() {
        Some(_) => Ok(super::send::send(fd, buf)),
        None => Err(buf),
    }
}

// SAFETY: the entry points at `bytes_total` bytes of `self.buf`, a registered buffer (index
// `self.index`) kept valid and in place by its `IoBufMut` contract and by the pool it belongs
// to, while the op owns it. The socket is kept open by the `SharedFd` clone.
unsafe impl<B: IoBufMut> OpCode for ReadFixed<B> {
    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        // Offset -1: use (and advance) the file position, as read(2) does; sockets ignore it.
        opcode::ReadFixed::new(
            self.fd.types_fd(),
            self.buf.stable_mut_ptr(),
            len,
            self.index,
        )
        .offset(u64::MAX)
        .build()
    }

    /// On epoll a fixed buffer is a plain buffer: a plain read into it.
    fn perform(&mut self) -> Performed {
        let (fd, ptr, len) = (
            self.fd.raw(),
            self.buf.stable_mut_ptr(),
            self.buf.bytes_total(),
        );
        // SAFETY: `ptr` is valid for `len` writable bytes (the buffer's `IoBufMut` contract)
        // and the fd is kept open by `self.fd`; the call returns before anything else runs.
        Performed::retry(fd, Interest::Read, 0, || unsafe {
            libc::read(fd, ptr.cast(), len)
        })
    }
}

impl<B: IoBufMut> Oneshot for ReadFixed<B> {
    type Output = BufResult<usize, B>;

    /// As a plain read's, but for the `EFAULT` of a buffer another ring registered.
    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let result = match cqe.result {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes from the buffer's start, `n` <= the length
                // given.
                unsafe { self.buf.set_init(n as usize) };
                Ok(n as usize)
            }
            // The ring checks the memory against its own buffer table before reading anything:
            // EFAULT means this ring never registered the buffer.
            Err(err) if err.raw_os_error() == Some(libc::EFAULT) => Err(foreign_buffer()),
            Err(err) => Err(err),
        };
        (result, self.buf)
    }
}

/// A `READ_FIXED` refused because the buffer is not in this ring's table.
fn foreign_buffer() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "coring: read_fixed got a buffer this runtime's ring did not register (EFAULT); a \
         FixedBuf serves only the runtime whose FixedBufPool made it",
    )
}
