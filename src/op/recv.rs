//! `RECV`: receive bytes from a socket into an owned buffer.
//!
//! The kernel writes into the buffer's heap memory from its start, up to its capacity
//! (`bytes_total`); `complete` then marks the received bytes initialized and hands the buffer
//! back. The same op serves TCP streams and connected UDP sockets.

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
    /// What becomes of bytes the receive takes after its future was dropped.
    leftover: Leftover,
    /// Submit with `POLL_FIRST`: see [`Recv::waiting_first`].
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
/// for data first.
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
        match super::recv_now(&self.fd, self.buf.stable_mut_ptr(), len, 0) {
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

    fn readiness(&self) -> Option<(std::os::fd::RawFd, Interest)> {
        self.is_stream().then(|| (self.fd.raw(), Interest::Read))
    }

    fn dispose(&mut self, cqe: &CqeResult) {
        let buf = &mut self.buf;
        self.leftover.dispose(cqe, |n| Datagram {
            bytes: super::written(buf.stable_mut_ptr(), n),
            from: None,
        });
    }

    fn abandoned(&mut self, owner: &Owner) {
        self.leftover.abandoned(owner);
    }
}

impl<B: IoBufMut> Oneshot for Recv<B> {
    type Output = BufResult<usize, B>;

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
