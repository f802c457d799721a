//! `SEND` and `SEND_ZC`: send the initialized bytes of an owned buffer on a connected socket.
//!
//! The kernel reads `bytes_init` bytes from the buffer's start; the result is how many it
//! took, which may be fewer (a full socket buffer, a signal), and the caller sends the rest
//! (`write_all`). Sent with `MSG_NOSIGNAL`, so writing to a connection the peer closed is an
//! `EPIPE` error (`io::ErrorKind::BrokenPipe`) rather than a `SIGPIPE` that kills the process.
//! The same op serves TCP streams, connected UDP sockets and Unix sockets.
//!
//! # Copying or zero-copy
//!
//! A plain send copies the bytes into the socket before it completes, so the buffer is free
//! at the completion. A zero-copy send ([`send_zc`], Linux 6.0) pins the buffer's pages and
//! the network stack transmits from them: the kernel reads the buffer until the peer has
//! acknowledged the bytes, which it reports with a second completion flagged `F_NOTIF` after
//! the result (flagged `F_MORE`). The op is the same data either way; the driver's slot holds
//! the result until the notification (`Lifecycle::Pending`'s `partial`, `driver/lifecycle.rs`),
//! so `complete` only runs, and the buffer only comes back, once the kernel let go of it. A
//! registered buffer (`FixedBuf`) goes out by its index, so the kernel skips pinning the pages.
//! A kernel without `SEND_ZC` (the probe, `driver/uring/probe.rs`) gets a plain send instead.
//!
//! # Dropped in flight
//!
//! The cancel is a race: the bytes may still go out. On a stream the op runs [`Tracked`]
//! (`loss.rs`), which records bytes a dropped send moved so the stream's next write fails
//! instead of leaving a gap; for a zero-copy send that is settled at the result, and later
//! writes need not wait for the notification, which a peer that stopped reading can hold back
//! for ever. The buffer stays in the driver's slot until the final completion (for a zero-copy
//! send, the notification); at runtime shutdown an abandoned zero-copy send still waiting is
//! ended by resetting its connection ([`OpCode::shut_down`]). A datagram send has nothing to
//! record: the datagram went or it did not.
//!
//! # The readiness backend
//!
//! `send(2)` with `MSG_DONTWAIT`, waiting for writability on `EAGAIN`. A zero-copy send is a
//! plain copying send there: nothing is pinned, so nothing is notified.
//!
//! [`Tracked`]: super::loss::Tracked

use crate::buf::{BufResult, IoBuf};
use crate::driver::kernel_lacks;
use crate::driver::opcode::{CqeResult, Oneshot, OpCode, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// A send's data: the socket and the buffer the kernel reads. Zero-copy or not is a const
/// parameter rather than a field: a flag would add 8 B (padding) to every write future, and
/// an idle connection's memory is budgeted to the byte (issue 19, `guard.rs`'s size test).
pub(crate) struct SendOp<B, const ZERO_COPY: bool> {
    /// The socket, kept open by this clone until the op data is dropped after the final
    /// completion, so its number cannot name another file meanwhile.
    fd: SharedFd,
    /// Read by the kernel from its start, `bytes_init` bytes, until the final completion (the
    /// notification, for a zero-copy send); then handed back unchanged.
    buf: B,
}

/// A plain, copying send (`SEND`).
pub(crate) type Send<B> = SendOp<B, false>;

/// A zero-copy send (`SEND_ZC`): see the module docs.
pub(crate) type SendZc<B> = SendOp<B, true>;

/// Sends `buf`'s initialized bytes on `fd`, copying them into the socket. On a stream, the
/// caller runs it tracked (see `loss.rs`), which records bytes a dropped send had sent anyway.
pub(crate) fn send<B: IoBuf>(fd: &SharedFd, buf: B) -> Send<B> {
    SendOp {
        fd: fd.clone(),
        buf,
    }
}

/// Sends `buf` on `fd` without copying it: the op completes, and hands `buf` back, only once
/// the kernel let go of it (see the module docs). The stream runs it tracked (see `loss.rs`),
/// which settles whether bytes moved at the send's result, before the notification.
pub(crate) fn send_zc<B: IoBuf>(fd: &SharedFd, buf: B) -> SendZc<B> {
    SendOp {
        fd: fd.clone(),
        buf,
    }
}

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

// SAFETY: the entry points at `bytes_init` initialized bytes of `self.buf`, which its `IoBuf`
// contract keeps valid and in place while the op owns the buffer: until `complete` hands it back
// (for a zero-copy send the driver delays that to the notification) or the driver drops the
// abandoned op after its final completion (the notification, for a zero-copy send). The socket
// is kept open by the `SharedFd` clone in `self.fd` for as long.
unsafe impl<B: IoBuf, const ZERO_COPY: bool> OpCode for SendOp<B, ZERO_COPY> {
    /// A length over `u32::MAX` is offered its first `u32::MAX` bytes (the entry's field is a
    /// `u32`); the result says how many went, as for any short send.
    fn sqe(&mut self) -> squeue::Entry {
        let (fd, ptr) = (self.fd.types_fd(), self.buf.stable_ptr());
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        // A kernel without `SEND_ZC` (before 6.0) gets the copying send, as epoll does: the
        // same bytes go out, and the slot, seeing no `F_MORE`, completes at the result.
        if !ZERO_COPY || kernel_lacks(opcode::SendZc::CODE) {
            return opcode::Send::new(fd, ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build();
        }
        opcode::SendZc::new(fd, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .buf_index(self.buf.fixed_index())
            .build()
    }

    fn perform(&mut self) -> Performed {
        // SAFETY: the owned buffer's pointer and initialized length, kept valid by its `IoBuf`
        // contract.
        unsafe { super::send_now(&self.fd, self.buf.stable_ptr(), self.buf.bytes_init()) }
    }

    /// Called by the driver for an abandoned send still unfinished a while (`LET_GO_AFTER`,
    /// `driver/uring/mod.rs`) into its runtime's shutdown. A plain send ends at its cancel; only
    /// a zero-copy one can outlive it, waiting for its notification.
    fn shut_down(&mut self) {
        // The kernel lets go of the buffer only once the peer has acknowledged the bytes, and a
        // peer that stopped reading never does. The runtime is going away and the send was
        // abandoned: reset the connection, which drops the queued bytes and so releases the
        // buffer and posts the notification.
        if ZERO_COPY {
            reset(&self.fd);
        }
    }
}

impl<B: IoBuf, const ZERO_COPY: bool> Oneshot for SendOp<B, ZERO_COPY> {
    type Output = BufResult<usize, B>;

    /// The byte count of the result (for a zero-copy send, the first completion's, kept by the
    /// driver across the notification) and the buffer.
    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe.result.map(|n| n as usize), self.buf)
    }
}
