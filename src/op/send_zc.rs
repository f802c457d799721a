//! `SEND_ZC`: send without copying the payload into the kernel. The kernel reads the buffer
//! until the network stack is done with it, which it reports with a second completion flagged
//! `F_NOTIF`; only then is the buffer handed back (the driver's lifecycle waits for it, even if
//! the future was dropped).

use super::loss::LossWatch;
use crate::buf::{BufResult, IoBuf};
use crate::driver::op::{CqeResult, Op, OpCode};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};

pub(crate) struct SendZc<B> {
    fd: SharedFd,
    buf: B,
    loss: LossWatch,
}

pub(crate) fn send_zc<B: IoBuf>(fd: &SharedFd, buf: B, loss: LossWatch) -> Op<SendZc<B>> {
    Op::new(SendZc {
        fd: fd.clone(),
        buf,
        loss,
    })
}

// SAFETY: the entry points at `bytes_init` bytes of `self.buf`, kept valid and in place by its
// `IoBuf` contract while the op owns it: until `complete` (which the lifecycle delays to the
// notification completion) or until the driver drops the abandoned data after that completion.
// The socket is kept open by the `SharedFd` clone.
unsafe impl<B: IoBuf> OpCode for SendZc<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        let mut entry = opcode::SendZc::new(self.fd.types_fd(), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL);
        if let Some(index) = self.buf.fixed_index() {
            entry = entry.buf_index(Some(index));
        }
        entry.build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe.result.map(|n| n as usize), self.buf)
    }

    fn dispose(&mut self, cqe: &CqeResult) {
        // The notification carries no byte count; the send's own result does.
        if !cqe.is_notification() {
            self.loss.record(cqe);
        }
    }

    fn abandoned(&mut self) {
        self.loss.abandoned();
    }
}
