//! `SEND`: send the initialized bytes of an owned buffer on a connected socket.
//!
//! Sent with `MSG_NOSIGNAL`, so writing to a connection the peer closed is an `EPIPE` error
//! (`io::ErrorKind::BrokenPipe`) rather than a `SIGPIPE` that kills the process.

use crate::buf::{BufResult, IoBuf};
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// A send's data: the kernel reads `buf`'s initialized bytes (the kernel copies them into the
/// socket, so the buffer is free again at the completion, unlike `SendZc`'s).
pub(crate) struct Send<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// Read by the kernel until the completion, then handed back; how much went out is the
    /// result, and the caller sends the rest (`write_all`).
    buf: B,
}

/// Sends `buf`'s initialized bytes on `fd`. On a stream, the caller runs it tracked (see
/// `loss.rs`), which records bytes a dropped send had sent anyway.
pub(crate) fn send<B: IoBuf>(fd: &SharedFd, buf: B) -> Send<B> {
    Send {
        fd: fd.clone(),
        buf,
    }
}

// SAFETY: the entry points at `bytes_init` initialized bytes of `self.buf`, which its `IoBuf`
// contract keeps valid and in place while the op owns the buffer (until `complete` hands it back,
// or the driver drops the abandoned op after its final completion). The socket is kept open by
// the `SharedFd` clone in `self.fd` for as long.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        opcode::Send::new(self.fd.types_fd(), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn perform(&mut self) -> Performed {
        super::send_now(&self.fd, self.buf.stable_ptr(), self.buf.bytes_init())
    }
}

impl<B: IoBuf> Oneshot for Send<B> {
    type Output = BufResult<usize, B>;

    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe.result.map(|n| n as usize), self.buf)
    }
}
