//! Multishot `RECV` with buffer selection: one submission, a completion per arrival, each naming
//! the provided buffer the kernel filled.
//!
//! The stream ends at the first completion without `F_MORE`: end of file (0), an error,
//! `ENOBUFS` when the ring ran dry (back-pressure: the caller re-arms once buffers return), or
//! `ECANCELED` when it had `max_waiting` results untaken (the driver cancels it then, so a
//! reader that stopped reading cannot take the whole ring from the others sharing it).

use super::loss::LossWatch;
use crate::buf::{BufRing, RingBuf};
use crate::driver::multishot::MultiOp;
use crate::driver::opcode::{CqeResult, Interest, OpCode, Owner, Performed, MORE};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::os::fd::RawFd;

/// `IORING_CQE_F_BUFFER` and `IORING_CQE_BUFFER_SHIFT`: an emulated item names its buffer so.
const BUFFER: u32 = 1;
const BUFFER_SHIFT: u32 = 16;

pub(crate) struct RecvMulti {
    fd: SharedFd,
    ring: BufRing,
    loss: LossWatch,
    /// Buffers filled after the stream was dropped. `dispose` runs under the driver's borrow
    /// and giving a buffer back wakes the ring's waiters (user code), so they go back to the
    /// ring when this data is dropped, outside the borrow, at the final completion (soon: the
    /// stream was cancelled).
    disposed: Vec<RingBuf>,
}

/// Receives from `fd` into buffers of `ring` until the kernel ends the stream, or until
/// `max_waiting` results wait untaken.
pub(crate) fn recv_multi(
    fd: &SharedFd,
    ring: &BufRing,
    loss: LossWatch,
    max_waiting: usize,
) -> MultiOp<RecvMulti> {
    let data = RecvMulti {
        fd: fd.clone(),
        ring: ring.clone(),
        loss,
        disposed: Vec::new(),
    };
    MultiOp::with_limit(data, max_waiting)
}

impl RecvMulti {
    pub(crate) fn ring(&self) -> &BufRing {
        &self.ring
    }
}

// SAFETY: the entry carries no pointer: the kernel writes into buffers of the ring, whose memory
// the `BufRing` clone in `self.ring` keeps registered and allocated for as long as this op's data
// lives (until its final completion). The socket is kept open by the `SharedFd` clone. On epoll,
// `perform` receives into a buffer it took from the ring's free list: no reader holds it, the
// ring clone keeps it allocated, and the call ends before `perform` returns.
unsafe impl OpCode for RecvMulti {
    type Output = ();

    const MULTISHOT: bool = true;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(self.fd.types_fd(), self.ring.group_id()).build()
    }

    /// Emulated multishot (epoll): one receive per poll, into a buffer of the ring taken only
    /// now, so a connection waiting for bytes holds none; the item names it as the kernel would.
    fn perform(&mut self) -> Performed {
        let Some((bid, ptr, len)) = self.ring.pick() else {
            // The ring ran dry: the reader waits for a buffer to come back, then re-arms.
            return Performed::Done(CqeResult::from_raw(-libc::ENOBUFS, 0));
        };
        let picked = MORE | BUFFER | (u32::from(bid) << BUFFER_SHIFT);
        match super::recv_now(&self.fd, ptr, len, 0) {
            Performed::Done(CqeResult { result: Ok(n), .. }) if n > 0 => {
                let cqe = CqeResult {
                    result: Ok(n),
                    flags: picked,
                };
                // Fewer bytes than room: none are left until epoll reports the socket again.
                match (n as usize) < len {
                    true => Performed::Drained(cqe, self.fd.raw()),
                    false => Performed::Done(cqe),
                }
            }
            // End of stream, an error, or no bytes yet: the buffer goes back unused.
            other => {
                self.ring.unpick(bid);
                other
            }
        }
    }

    fn readiness(&self) -> Option<(RawFd, Interest)> {
        Some((self.fd.raw(), Interest::Read))
    }

    fn complete(self, _cqe: CqeResult) {}

    fn dispose(&mut self, cqe: &CqeResult) {
        if let Some(bid) = cqe.buffer_id() {
            // Bytes arrived after the stream was dropped: they are lost to the reader.
            self.loss.record(cqe);
            self.disposed.push(self.ring.take(bid, 0));
        }
    }

    fn abandoned(&mut self, owner: &Owner) {
        self.loss.abandoned(owner);
    }
}
