//! What a [`TcpListener`](super::TcpListener) and a [`UnixListener`](super::UnixListener) hold
//! whatever their address family: the listening socket, the connections kept for accepts whose
//! futures were dropped, and the back-off after accepts ran out of resources.

use super::backoff::AcceptBackoff;
use crate::fd::SharedFd;
use crate::op;
use crate::op::accept::PeerAddr;
use crate::op::keep::{Connection, Kept};
use std::io;
use std::os::fd::OwnedFd;

/// A listening socket and the state its accepts share.
pub(super) struct Listening {
    pub(super) fd: SharedFd,
    /// Connections accepted for accepts whose futures were dropped.
    pub(super) kept: Kept<Connection>,
    /// How long the next accept waits first, after accepts failed for lack of resources.
    pub(super) backoff: AcceptBackoff,
}

impl Listening {
    /// Listens on `fd`, which is closed as soon as the listener goes (or, with an accept in
    /// flight, once the kernel has finished it).
    pub(super) fn new(fd: OwnedFd) -> Listening {
        Listening {
            fd: SharedFd::new_closed_at_once(fd),
            kept: Kept::default(),
            backoff: AcceptBackoff::default(),
        }
    }

    /// One single-shot accept, after the back-off, which its result then updates: the new
    /// socket and the peer's address as `A`.
    pub(super) async fn accept<A: PeerAddr>(&self) -> io::Result<(OwnedFd, A)> {
        self.backoff.wait().await;
        let result = op::accept::accept::<A>(&self.fd, self.kept.watch()).await;
        self.backoff.note(result.as_ref().err());
        result
    }
}

socket_fd_impls!(Listening => fd);
