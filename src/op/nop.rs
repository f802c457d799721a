//! `NOP`: a ring round trip that does nothing; used to measure the runtime's own overhead.

use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Nop;

// SAFETY: a NOP entry carries no pointers and no fd.
unsafe impl OpCode for Nop {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    fn perform(&mut self) -> Performed {
        Performed::Done(CqeResult::from_raw(0, 0))
    }
}

impl Oneshot for Nop {
    type Output = io::Result<()>;

    fn complete(self, cqe: CqeResult) -> io::Result<()> {
        cqe.result.map(drop)
    }
}

/// One no-op through the ring: submitted with the loop's batch, completed by the kernel.
pub(crate) fn nop() -> Op<Nop> {
    Op::new(Nop)
}
