//! `CONNECT`: connect a socket to a peer address.
//!
//! The address lives in a heap `SockAddr` owned by the op; the kernel may read it after the
//! submitting call returns (an SQPOLL thread or a kernel worker issues the connect later).
//!
//! On a TCP socket the op completes when the handshake does: 0 once connected, or the
//! connection's error (`ECONNREFUSED`, `ETIMEDOUT` after the kernel's SYN retries, ...).
//! On a Unix socket it completes at once.
//!
//! # Dropped in flight
//!
//! The cancel ends a handshake in progress; one that won the race leaves the socket connected.
//! Nothing comes back to dispose of: the socket is the caller's, which drops it (and, once this
//! op's `SharedFd` clone goes after the final completion, closes it) when the connect future
//! is dropped.
//!
//! # The readiness backend
//!
//! A non-blocking `connect(2)`: the socket is made non-blocking first (`blocking_fd`), since a
//! socket made outside the runtime would block the core for the whole handshake.

use super::heap::Heap;
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Interest, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use socket2::SockAddr;
use std::io;

/// A connect's data: the socket and the peer's address.
pub(crate) struct Connect {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// Copied by the kernel when it first issues the connect (the retry after the handshake
    /// uses that copy); kept to the final completion all the same, as every pointer an entry
    /// holds, since when that first issue happens is the kernel's choice.
    addr: Heap<SockAddr>,
    /// Readiness backend: this op started the connect, which is in progress. Only then does
    /// a later `EISCONN` mean success: on a socket connected beforehand it is the error.
    started: bool,
}

/// Connects `fd` to `addr`.
pub(crate) fn connect(fd: &SharedFd, addr: SockAddr) -> Op<Connect> {
    Op::new(Connect {
        fd: fd.clone(),
        addr: Heap::new(addr),
        started: false,
    })
}

// SAFETY: the entry points at the address inside `self.addr`, a heap allocation owned by this op
// that does not move when the op moves and is freed only with the op data, after the final
// completion. The socket is kept open by the `SharedFd` clone in `self.fd` for as long.
unsafe impl OpCode for Connect {
    fn sqe(&mut self) -> squeue::Entry {
        let addr = self.addr.get();
        // `SockAddr::as_ptr` points into the `SockAddr` itself, which lives in `self.addr`.
        opcode::Connect::new(
            self.fd.types_fd(),
            addr.as_ptr().cast::<libc::sockaddr>(),
            addr.len(),
        )
        .build()
    }

    /// Non-blocking connect: `EINPROGRESS` (or `EALREADY` on a later try) waits for the socket
    /// to become writable; trying again then returns 0 (or `EISCONN`) once connected, or the
    /// connection's error.
    fn perform(&mut self) -> Performed {
        let fd = self.fd.raw();
        let addr = self.addr.get();
        loop {
            // SAFETY: `addr` is a valid sockaddr of `len` bytes owned by this op; the fd is kept
            // open by `self.fd`.
            let rc = unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len()) };
            if rc == 0 {
                return Performed::Done(CqeResult::from_raw(0, 0));
            }
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EISCONN) if self.started => Performed::Done(CqeResult::from_raw(0, 0)),
                Some(libc::EINPROGRESS | libc::EALREADY | libc::EAGAIN) => {
                    self.started = true;
                    Performed::WouldBlock(fd, Interest::Write)
                }
                _ => Performed::Done(CqeResult::from_error(err)),
            };
        }
    }

    fn blocking_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.fd.raw())
    }
}

super::unit_output!(Connect);
