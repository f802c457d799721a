//! `READ` of the process's signalfd: which signals arrived.
//!
//! The signalfd is process-wide and never closed (see `signal.rs`), so the op needs no handle
//! to keep it open. The buffer the kernel writes `signalfd_siginfo` records into is a heap
//! allocation owned by the op. A read whose future was dropped may still take signals (the
//! cancel lost the race): `dispose` keeps them, and when the runtime drops the op data (after
//! its borrow of the driver, so no waker runs under it) they go to `on_lost`, so no delivery is
//! lost; `on_lost` is called (with none) when the cancel won too, so the registry knows nobody
//! is reading any more.
//!
//! The signalfd is blocking on purpose: the ring's read of a blocking fd waits (the kernel
//! arms a poll and reads when a signal is queued), while on an `O_NONBLOCK` one it would
//! complete with `EAGAIN` at once. The result is a whole number of records; a partial read of
//! one never happens (the kernel hands out whole `signalfd_siginfo`s or fails with `EINVAL`
//! for a buffer smaller than one).
//!
//! # The readiness backend
//!
//! The fd being blocking, a plain `read` could block the core, so `perform` asks `poll(2)`
//! with a zero timeout first and reads only when a signal is queued; otherwise it waits for
//! readability. Only one read runs per process at a time (`signal.rs`), so nothing takes the
//! signal between the poll and the read.

use super::heap::Heap;
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, Oneshot, OpCode};
use crate::driver::opcode::{Interest, Performed};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::RawFd;

/// The size of one `struct signalfd_siginfo`, fixed by the kernel's ABI.
const RECORD: usize = 128;
/// Records taken by one read. Signals beyond them stay queued in the signalfd for the next
/// read, so this bounds the buffer (2 KiB per read in flight), not what is delivered.
const RECORDS: usize = 16;

/// A signalfd read's data: where the kernel writes records, and where records of a read
/// nobody awaits go.
pub(crate) struct SignalRead {
    /// The process's signalfd: never closed, so a raw number is enough.
    /// (No `SharedFd` clone: nothing can close and reuse the number.)
    fd: RawFd,
    /// Room for `RECORDS` `signalfd_siginfo` records; the kernel's until the final completion.
    buf: Heap<[u8; RECORD * RECORDS]>,
    /// Where the signals an abandoned read took go (the registry in `signal.rs`), called from
    /// `Drop` outside the driver's borrow.
    on_lost: fn(Vec<i32>),
    /// What an abandoned read took, once its final completion came; for `on_lost` on drop.
    /// `Some(empty)` also stands for "this read ended without taking anything": on epoll, a
    /// read dropped while waiting must hand over to the next reader just as one the kernel
    /// cancelled does. `None`: the read's result went to its caller (or nothing ended yet).
    lost: Option<Vec<i32>>,
}

/// Reads signal records from the process's signalfd `fd`, which must never be closed.
/// `on_lost` is a plain `fn`: the registry it feeds is process-wide, so nothing needs
/// capturing, and nothing captured could run a destructor under the driver's borrow.
pub(crate) fn read_signals(fd: RawFd, on_lost: fn(Vec<i32>)) -> Op<SignalRead> {
    Op::new(SignalRead {
        fd,
        buf: Heap::new([0; RECORD * RECORDS]),
        on_lost,
        lost: None,
    })
}

impl SignalRead {
    /// The signal numbers in the first `n` bytes (whole records) of the buffer.
    fn signals(&self, n: usize) -> Vec<i32> {
        // The kernel never reports more than the length given; the `min` only keeps a count it
        // did not mean from panicking on the slice. `chunks_exact` drops a partial record, of
        // which there is none (see the module docs).
        let bytes = &self.buf.get()[..n.min(RECORD * RECORDS)];
        bytes
            .chunks_exact(RECORD)
            .map(|record| {
                // `ssi_signo` is the record's first field, a u32 in native byte order.
                let signo = [record[0], record[1], record[2], record[3]];
                u32::from_ne_bytes(signo) as i32
            })
            .collect()
    }
}

// SAFETY: the entry points at `self.buf`, a heap allocation owned by the op that does not move
// when it moves and is freed with the op data after the final completion. The fd is the
// process's signalfd, which is never closed.
unsafe impl OpCode for SignalRead {
    fn sqe(&mut self) -> squeue::Entry {
        let len = (RECORD * RECORDS) as u32;
        opcode::Read::new(types::Fd(self.fd), self.buf.as_ptr().cast::<u8>(), len).build()
    }

    /// The signalfd is blocking (io_uring wants it so), so readiness is asked first.
    fn perform(&mut self) -> Performed {
        let mut poll = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live `pollfd`, a zero timeout.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        if ready == 0 {
            // Dropped while waiting, the read ends having read nothing: the next waiter must
            // take over, as after an abandoned ring read's completion (see `Drop`).
            self.lost = Some(Vec::new());
            return Performed::WouldBlock(self.fd, Interest::Read);
        }
        self.lost = None;
        let (fd, buf, len) = (self.fd, self.buf.as_ptr().cast::<u8>(), RECORD * RECORDS);
        // SAFETY: `buf` is this op's heap buffer of `len` bytes; the fd is the process's
        // signalfd, open while signals are watched; it is readable, so the read returns at once.
        Performed::retry(fd, Interest::Read, 0, || unsafe {
            libc::read(fd, buf.cast(), len)
        })
    }

    /// The abandoned read's final completion: the signals it took (none if the cancel won),
    /// kept for `on_lost`, which cannot run here under the driver's borrow (the registry
    /// wakes waiters).
    fn dispose(&mut self, cqe: &CqeResult) {
        let signals = match &cqe.result {
            Ok(n) => self.signals(*n as usize),
            Err(_) => Vec::new(),
        };
        self.lost = Some(signals);
    }
}

impl Oneshot for SignalRead {
    type Output = io::Result<Vec<i32>>;

    /// The signal numbers of the records read, oldest first, as the signalfd queued them.
    fn complete(self, cqe: CqeResult) -> Self::Output {
        let n = cqe.result?;
        Ok(self.signals(n as usize))
    }
}

/// Runs when the op data goes: after the future took the result (then `lost` is `None`), or
/// when the driver frees an abandoned read's data after its final completion, outside its
/// borrow, so `on_lost` may wake tasks.
impl Drop for SignalRead {
    fn drop(&mut self) {
        if let Some(signals) = self.lost.take() {
            (self.on_lost)(signals);
        }
    }
}
