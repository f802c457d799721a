//! `ACCEPT`: take one connection off a listening socket.
//!
//! The kernel writes the peer's address into a heap `sockaddr_storage` and its length into the
//! `socklen_t` beside it, both owned by the op. The new socket is created with `SOCK_CLOEXEC`.
//! If the future is dropped and the accept completes anyway (the cancel lost the race), the new
//! fd is kept on the listener for its next accept (see `keep.rs`); the listener's queue closes
//! it if nobody takes it, so a cancelled accept never leaks or loses a connection (hazard H5 in
//! `docs/HAZARDS.md`).
//!
//! The op is generic over the peer address it returns ([`PeerAddr`]): TCP wants an IPv4/IPv6
//! `SocketAddr`, a Unix listener the raw `SockAddr` (a path, an abstract name, or unnamed).
//!
//! # The address the kernel writes
//!
//! `accept4(2)`'s contract: `len` goes in holding the room at `storage` and comes out holding
//! the address's real length, which may be larger than the room (the address is then cut);
//! with `sockaddr_storage` as the room it never is. The kernel writes both when it completes
//! the accept, which may be long after submission (an accept waits for a client), so both sit
//! in one [`Heap`] the op owns until the final completion, and are read only after it.
//!
//! # The readiness backend
//!
//! `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`, waiting for readability on `EAGAIN`. The
//! listener itself is made non-blocking before the first attempt (`blocking_fd`), since
//! `accept4` has no per-call flag for it and a listener made outside the runtime may block.

use super::heap::Heap;
use super::keep::{Connection, KeepWatch};
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode, Owner};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use socket2::{SockAddr, SockAddrStorage};
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};

/// Where the kernel writes the peer's address.
struct PeerStorage {
    /// Room for any address family; the kernel writes the peer's address here.
    storage: SockAddrStorage,
    /// In: the room (`storage`'s size); out: the address's length, which the kernel writes.
    len: libc::socklen_t,
}

/// The address type an accept hands back, made from the address the kernel wrote.
pub(crate) trait PeerAddr: Sized + 'static {
    /// The accepted peer's address as the caller wants it; an error only for an address the
    /// type cannot hold (an IP listener's peer is always IP, so in practice never).
    fn from_sock_addr(addr: SockAddr) -> io::Result<Self>;
}

/// TCP's: an IP listener's peers are IP, so the error is for a misuse (a Unix listener's fd
/// wrapped as TCP), not for anything a client can cause.
impl PeerAddr for SocketAddr {
    fn from_sock_addr(addr: SockAddr) -> io::Result<Self> {
        addr.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "coring: accepted a connection whose peer address is not IPv4 or IPv6",
            )
        })
    }
}

/// Unix sockets': the address as the kernel wrote it. A client that never bound its socket
/// is unnamed (a length of just the family), which is a valid address, not an error.
impl PeerAddr for SockAddr {
    fn from_sock_addr(addr: SockAddr) -> io::Result<Self> {
        Ok(addr)
    }
}

/// An accept's data: the listener and where the kernel writes the peer's address.
pub(crate) struct Accept<A = SocketAddr> {
    /// The listening socket, kept open until the final completion.
    fd: SharedFd,
    /// Written by the kernel; read once, after the final completion (`peer`).
    addr: Heap<PeerStorage>,
    /// The address type `complete` returns. `fn() -> A`: the op holds no `A`, so neither `A`'s
    /// auto traits nor its drop glue bear on the op's.
    peer: PhantomData<fn() -> A>,
    /// Where a connection accepted after the future was dropped goes.
    keep: KeepWatch<Connection>,
}

/// Accepts one connection on the listening socket `fd`; one accepted after the future was
/// dropped goes to `keep`.
pub(crate) fn accept<A: PeerAddr>(fd: &SharedFd, keep: KeepWatch<Connection>) -> Op<Accept<A>> {
    let storage = SockAddrStorage::zeroed();
    let len = storage.size_of();
    Op::new(Accept {
        fd: fd.clone(),
        addr: Heap::new(PeerStorage { storage, len }),
        peer: PhantomData,
        keep,
    })
}

impl<A> Accept<A> {
    /// The peer's address the kernel wrote for a successful accept. Called once the op's final
    /// completion has been reaped, and once: the storage is swapped for an empty one, as
    /// `SockAddr::new` takes it by value.
    fn peer(&mut self) -> SockAddr {
        let PeerStorage { storage, len } = std::mem::replace(
            self.addr.get_mut(),
            PeerStorage {
                storage: SockAddrStorage::zeroed(),
                len: 0,
            },
        );
        // SAFETY: the kernel filled `storage` with an address of the socket's family and set
        // `len` to its length (capped at the storage size).
        unsafe { SockAddr::new(storage, len) }
    }
}

// SAFETY: the entry points at `addr.storage` and `addr.len`, which live in `self.addr`, a heap
// allocation owned by this op that does not move when the op moves and is freed only when the op
// data is dropped (after the final completion, by the `Op` or by the driver's abandoned slot). The
// listening fd is kept open by the `SharedFd` clone in `self.fd` for as long.
unsafe impl<A: PeerAddr> OpCode for Accept<A> {
    fn sqe(&mut self) -> squeue::Entry {
        let peer = self.addr.as_ptr();
        // SAFETY: `peer` points to a live, owned `PeerStorage`; taking field addresses reads nothing.
        let (addr, len) = unsafe { (&raw mut (*peer).storage, &raw mut (*peer).len) };
        // `SockAddrStorage` is `repr(transparent)` over `sockaddr_storage`.
        opcode::Accept::new(self.fd.types_fd(), addr.cast::<libc::sockaddr>(), len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn perform(&mut self) -> Performed {
        let peer = self.addr.as_ptr();
        // SAFETY: `peer` points to a live, owned `PeerStorage`; taking field addresses reads nothing.
        let (addr, len) = unsafe { (&raw mut (*peer).storage, &raw mut (*peer).len) };
        // SAFETY: `len` holds the size of the storage at `addr` (set at construction; a failed
        // attempt leaves it), and both live in `self.addr`, owned by the op, for the call.
        unsafe { super::accept_now(&self.fd, addr.cast(), len, 0) }
    }

    fn blocking_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.fd.raw())
    }

    /// A connection accepted after the future was dropped (the cancel lost the race) goes to
    /// the listener's queue for its next accept; the cancel's own `ECANCELED` keeps nothing.
    fn dispose(&mut self, cqe: &CqeResult) {
        if let Ok(raw) = cqe.result {
            // SAFETY: a successful accept returns a new fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
            // The address is kept too: once the client is gone (a reset), the socket can no
            // longer tell it.
            let peer = self.peer().as_socket();
            self.keep.keep((fd, peer));
        }
    }

    fn abandoned(&mut self, owner: &Owner) {
        self.keep.abandoned(owner);
    }
}

impl<A: PeerAddr> Oneshot for Accept<A> {
    type Output = io::Result<(OwnedFd, A)>;

    /// The new fd is owned before the address is converted, so a peer address the type cannot
    /// hold drops (closes) the connection and returns the error: nothing leaks.
    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let raw = cqe.result?;
        // SAFETY: a successful accept returns a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        Ok((fd, A::from_sock_addr(self.peer())?))
    }
}
