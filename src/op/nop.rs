//! `NOP`: a ring round trip that does nothing; used to measure the runtime's own overhead.

use crate::driver::op_future::Op;
use crate::driver::opcode::Performed;
use crate::driver::opcode::{CqeResult, OpCode};
use io_uring::{opcode, squeue};

/// A no-op's data: nothing for the kernel to point at, so nothing to keep alive or dispose of.
/// The benches measure the runtime's cost per op with it: push, submit, reap, wake, complete.
pub(crate) struct Nop;

// SAFETY: a NOP entry carries no pointers and no fd.
unsafe impl OpCode for Nop {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    /// On epoll: done at once, with no syscall (a ring round trip has no readiness analogue).
    fn perform(&mut self) -> Performed {
        Performed::Done(CqeResult::from_raw(0, 0))
    }
}

super::unit_output!(Nop);

/// One no-op through the ring: submitted with the loop's batch, completed by the kernel.
/// Dropped in flight, it is cancelled like any op; with nothing to keep or dispose of, the
/// slot only waits for the final completion to be freed.
pub(crate) fn nop() -> Op<Nop> {
    Op::new(Nop)
}
