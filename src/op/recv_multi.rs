//! Multishot `RECV` with buffer selection: one submission, a completion per arrival, each naming
//! the provided buffer the kernel filled.
//!
//! The stream ends at the first completion without `F_MORE`: end of file (0), an error,
//! `ENOBUFS` when the ring ran dry (back-pressure: the caller re-arms once buffers return), or
//! `ECANCELED` when it had `max_waiting` results untaken (the driver cancels it then, so a
//! reader that stopped reading cannot take the whole ring from the others sharing it).

use super::loss::LossWatch;
use crate::buf::{BufRing, RingBuf};
use crate::driver::op::{CqeResult, MultiOp, OpCode, Owner};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

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
// lives (until its final completion). The socket is kept open by the `SharedFd` clone.
unsafe impl OpCode for RecvMulti {
    type Output = ();

    const MULTISHOT: bool = true;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(self.fd.types_fd(), self.ring.group_id()).build()
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
