//! `SEND_ZC`: send without copying the payload into the kernel. The kernel reads the buffer
//! until the network stack is done with it, which it reports with a second completion flagged
//! `F_NOTIF`; only then is the buffer handed back (the driver's lifecycle waits for it, even if
//! the future was dropped).

use crate::buf::{BufResult, IoBuf};
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// Disconnects a TCP socket at once (`connect` with `AF_UNSPEC`: the kernel's
/// `tcp_disconnect`), dropping the bytes still queued on it and sending a reset to the peer.
/// The fd stays open (other clones may hold it); later operations on it fail.
fn reset(fd: &SharedFd) {
    // SAFETY: a `sockaddr` of all zeroes is a valid value (family AF_UNSPEC, which is 0).
    let addr: libc::sockaddr = unsafe { std::mem::zeroed() };
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: `addr` is a live local of `len` bytes that the kernel only reads, and the fd is
    // kept open by `fd`. Failure (the connection already gone) leaves nothing to release.
    let _ = unsafe { libc::connect(fd.raw(), &addr, len) };
}

/// A zero-copy send's data. Its slot stays `Pending` across the first completion (the byte
/// count, flagged `F_MORE`) until the `F_NOTIF` one: see `driver/lifecycle.rs`.
pub(crate) struct SendZc<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// Pinned pages the network stack transmits from: the kernel's until the notification, which
    /// may come long after the send's result (a peer that stops acknowledging holds it back).
    buf: B,
}

/// Sends `buf` on `fd` without copying it; the stream runs it tracked (see `loss.rs`), which
/// settles whether bytes moved at the send's result, before the notification.
pub(crate) fn send_zc<B: IoBuf>(fd: &SharedFd, buf: B) -> SendZc<B> {
    SendZc {
        fd: fd.clone(),
        buf,
    }
}

// SAFETY: the entry points at `bytes_init` bytes of `self.buf`, kept valid and in place by its
// `IoBuf` contract while the op owns it: until `complete` (which the lifecycle delays to the
// notification completion) or until the driver drops the abandoned data after that completion.
// The socket is kept open by the `SharedFd` clone.
unsafe impl<B: IoBuf> OpCode for SendZc<B> {
    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        let mut entry = opcode::SendZc::new(self.fd.types_fd(), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL);
        if let Some(index) = self.buf.fixed_index() {
            entry = entry.buf_index(Some(index));
        }
        entry.build()
    }

    /// On epoll a zero-copy send is a plain send (the bytes are copied; nothing to notify).
    fn perform(&mut self) -> Performed {
        super::send_now(&self.fd, self.buf.stable_ptr(), self.buf.bytes_init())
    }

    fn shut_down(&mut self) {
        // The kernel lets go of the buffer only once the peer has acknowledged the bytes, and a
        // peer that stopped reading never does (the driver calls this only after giving it a
        // while). The runtime is going away and the send was abandoned: reset the connection,
        // which drops the queued bytes and so releases the buffer and posts the notification.
        reset(&self.fd);
    }
}

impl<B: IoBuf> Oneshot for SendZc<B> {
    type Output = BufResult<usize, B>;

    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe.result.map(|n| n as usize), self.buf)
    }
}
