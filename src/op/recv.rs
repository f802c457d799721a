//! `RECV`: receive bytes from a socket into an owned buffer.
//!
//! The kernel writes into the buffer's heap memory from its start, up to its capacity
//! (`bytes_total`); `complete` then marks the received bytes initialized and hands the buffer
//! back. The same op serves TCP streams and connected UDP sockets.
//!
//! The result is how many bytes arrived, at most the buffer's room: fewer is normal (whatever
//! the socket held), and 0 is end of file on a stream but an empty datagram on UDP. A datagram
//! larger than the buffer is cut to it by the kernel, as `recv(2)` does (no `MSG_TRUNC` is
//! asked for, so the result never exceeds the room).
//!
//! # Dropped in flight
//!
//! The cancel is a race: the receive may still take bytes, which land in the buffer the
//! driver keeps until the final completion. What becomes of them is the [`Leftover`] the op
//! was made with: on a stream they are lost, and the op runs `Tracked` (`loss.rs`) so the
//! stream's next read fails saying so; on a datagram socket the datagram is copied out and
//! queued for the socket's next receive (`keep.rs`), so a cancelled receive loses nothing.
//!
//! # The readiness backend
//!
//! `recv(2)` with `MSG_DONTWAIT`, waiting for readability on `EAGAIN`. A stream receive that
//! got fewer bytes than its room says the socket is drained (`Performed::Drained`), so the
//! next receive waits for epoll's word instead of trying a syscall that would find nothing.

use super::keep::{Datagram, Leftover};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::opcode::{CqeResult, Oneshot, OpCode, Owner};
use crate::driver::opcode::{Interest, Performed};
use crate::driver::uring::poll_first_supported;
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

/// A receive's data: the kernel writes `buf` from its start, up to its capacity.
pub(crate) struct Recv<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// The kernel's until the final completion; handed back by `complete` with the bytes
    /// received marked initialized.
    buf: B,
    /// What becomes of bytes the receive takes after its future was dropped, and whether the
    /// socket is a stream.
    leftover: Leftover,
    /// Submit with `POLL_FIRST`: see [`Recv::waiting_first`]. Only ever set where the kernel
    /// knows the flag (5.19); an older one would fail the receive with `EINVAL`.
    wait_first: bool,
}

/// Receives into `buf` from `fd`; `leftover` says what a dropped receive does with bytes it
/// took anyway (a stream records the loss, a datagram socket keeps the datagram).
pub(crate) fn recv<B: IoBufMut>(fd: &SharedFd, buf: B, leftover: Leftover) -> Recv<B> {
    Recv {
        fd: fd.clone(),
        buf,
        leftover,
        wait_first: false,
    }
}

/// `IORING_RECVSEND_POLL_FIRST` (Linux 5.19): skip the receive attempt at submission and wait
/// for data first. It goes in the entry's `ioprio` field, which send and receive ops reuse for
/// their own flags.
const POLL_FIRST: u16 = 1;

impl<B> Recv<B> {
    /// Whether the socket is probably empty, as after a stream read that took less than its
    /// room (a server waiting for the next request): submitted as is, the kernel would try the
    /// receive at once, fail with `EAGAIN` and only then wait for data, a wasted `recvmsg` per
    /// message. Such a receive waits for data first. Only a hint: bytes already there are
    /// received as soon as the wait is armed, but at a cost (a poll armed and found ready, task
    /// work, a second issue: ≈ 3× what it saves on an empty socket, benches/README.md), so a
    /// stream whose last short read found its bytes waiting does not ask (`net/stream.rs`).
    pub(crate) fn waiting_first(mut self, probably_empty: bool) -> Self {
        self.wait_first = probably_empty && poll_first_supported();
        self
    }

    /// Whether fewer bytes than the room mean the socket is drained: true of a stream only.
    fn is_stream(&self) -> bool {
        matches!(self.leftover, Leftover::Stream)
    }
}

// SAFETY: the entry points at `bytes_total` bytes of `self.buf`, whose `IoBufMut` contract keeps
// them valid, writable and in place while the op owns the buffer (until `complete` hands it back,
// or the driver drops the abandoned op after its final completion). The socket is kept open by
// the `SharedFd` clone in `self.fd` for as long.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        let ioprio = if self.wait_first { POLL_FIRST } else { 0 };
        opcode::Recv::new(self.fd.types_fd(), self.buf.stable_mut_ptr(), len)
            .ioprio(ioprio)
            .build()
    }

    fn perform(&mut self) -> Performed {
        let len = self.buf.bytes_total();
        // SAFETY: the owned buffer's pointer and room, kept valid and writable by its
        // `IoBufMut` contract.
        match unsafe { super::recv_now(&self.fd, self.buf.stable_mut_ptr(), len, 0) } {
            // A stream hands over all it holds up to the room given: fewer bytes usually means
            // none are left (a datagram says nothing about the next one); the driver trusts it
            // only where that holds (TCP with no urgent data, see `Epoll::drained`).
            Performed::Done(cqe)
                if self.is_stream()
                    && cqe
                        .result
                        .as_ref()
                        .is_ok_and(|&n| n > 0 && (n as usize) < len) =>
            {
                Performed::Drained(cqe, self.fd.raw())
            }
            other => other,
        }
    }

    /// A stream receive may skip its syscall while the socket is known drained (see the module
    /// docs); a datagram socket's receive always tries.
    fn readiness(&self) -> Option<(std::os::fd::RawFd, Interest)> {
        self.is_stream().then(|| (self.fd.raw(), Interest::Read))
    }

    /// A result of the abandoned receive: see the module docs. The sender is left to the
    /// `Leftover`, which knows the connected peer (a plain receive does not learn it).
    fn dispose(&mut self, cqe: &CqeResult) {
        let buf = &mut self.buf;
        self.leftover.dispose(cqe, |n| Datagram {
            // SAFETY: `n` is this, the final, completion's count of bytes the kernel wrote from
            // the start of the buffer, at most the `bytes_total` the entry named.
            bytes: unsafe { super::written(buf.stable_mut_ptr(), n) },
            from: None,
        });
    }

    fn abandoned(&mut self, owner: &Owner) {
        self.leftover.abandoned(owner);
    }
}

impl<B: IoBufMut> Oneshot for Recv<B> {
    type Output = BufResult<usize, B>;

    /// On success the bytes received are marked initialized; on an error the buffer comes
    /// back as it went (the kernel may have written into its spare room, which stays
    /// uninitialized as far as the buffer is concerned).
    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let result = cqe.result.map(|n| {
            let n = n as usize;
            // SAFETY: the kernel reported writing `n` bytes from the buffer's start, and `n` is at
            // most the length we passed, which is at most `bytes_total`.
            unsafe { self.buf.set_init(n) };
            n
        });
        (result, self.buf)
    }
}
