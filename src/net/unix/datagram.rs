//! [`UnixDatagram`]: Unix datagrams sent and received through the ring.

use super::addr::{bound_socket, sock_addr, with_path};
use super::{SocketAddr, UCred};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::net::udp::take_only;
use crate::op;
use crate::op::loss::LossFlag;
use crate::op::Op;
use socket2::{Domain, SockRef, Socket, Type};
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// A Unix datagram socket.
///
/// Binding and connecting are synchronous; sending and receiving go through the ring with owned
/// buffers. Unix datagrams are reliable and ordered (the kernel never drops one: a send waits
/// while the receiver's queue is full). A datagram larger than the receive buffer is cut to the
/// buffer's capacity, the rest discarded, as with `recv(2)`: the length returned is what was
/// stored, and nothing reports the cut (the kernel's `MSG_TRUNC` is not passed on), so give
/// receives room for the largest datagram the protocol allows.
///
/// ```
/// use coring::net::UnixDatagram;
///
/// coring::block_on(async {
///     let name = format!("\0coring-doc-dgram-{}", std::process::id());
///     let server = UnixDatagram::bind(&name)?;
///     let client = UnixDatagram::unbound()?;
///     client.send_to(b"ping".to_vec(), &name).await.0?;
///     let (result, buf) = server.recv_from(Vec::with_capacity(64)).await;
///     let (n, from) = result?;
///     assert_eq!(&buf[..n], b"ping");
///     assert!(from.is_unnamed()); // the client never bound an address
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// A send goes whole or not at all; dropped before it completes, the datagram may or may not
/// have been sent. Receives are *not* cancel safe (unlike [`UdpSocket`](crate::net::UdpSocket)'s,
/// which keep such a datagram for the next receive): one dropped after the kernel had delivered
/// a datagram into its buffer loses that datagram (and closes any descriptors that came with
/// it). To bound a receive in time without losing anything, use
/// [`time::timeout_op`](crate::time::timeout_op), which cancels and still awaits it.
///
/// The socket is closed on drop, at once if no operation on it is in flight (so its name is
/// free to bind again), otherwise once the kernel has finished the last one.
pub struct UnixDatagram {
    fd: SharedFd,
}

impl UnixDatagram {
    /// A socket bound to `path` (a first byte `\0` makes it an abstract name).
    ///
    /// # Errors
    ///
    /// As [`UnixListener::bind`](super::UnixListener::bind): `AddrInUse` if `path` exists,
    /// `InvalidInput` if it is empty (use [`unbound`](UnixDatagram::unbound) for a socket with
    /// no name), and so on, naming the path.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let socket = bound_socket(path.as_ref(), Type::DGRAM, |_| Ok(()))?;
        Ok(UnixDatagram::from_fd(socket.into()))
    }

    /// A socket with no address: it can send, and receive replies only if it connects (a
    /// receiver cannot answer an unnamed sender).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let socket = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
        Ok(UnixDatagram::from_fd(socket.into()))
    }

    /// A pair of connected, unnamed sockets (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None)?;
        Ok((
            UnixDatagram::from_fd(a.into()),
            UnixDatagram::from_fd(b.into()),
        ))
    }

    /// Wraps a socket made with the standard library (it is switched to blocking mode, which
    /// io_uring handles without blocking the thread).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram::from_fd(crate::net::blocking_fd(socket)?))
    }

    fn from_fd(fd: OwnedFd) -> UnixDatagram {
        UnixDatagram {
            fd: SharedFd::new_closed_at_once(fd),
        }
    }

    /// Sets the default peer: [`send`](UnixDatagram::send) goes there and only its datagrams
    /// are received. Synchronous; `NotFound` if nothing is bound at `path`.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        let addr = sock_addr(path)?;
        SockRef::from(self)
            .connect(&addr)
            .map_err(|err| with_path(err, "connecting to", path))
    }

    /// Sends `buf`'s initialized bytes as one datagram to the socket at `path`; returns the
    /// bytes sent. `NotFound` (naming the path) if nothing is bound there.
    ///
    /// # Cancel safety
    ///
    /// A datagram goes whole or not at all; dropped before it completes, it may or may not
    /// have been sent.
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        let path = path.as_ref();
        let addr = match sock_addr(path) {
            Ok(addr) => addr,
            Err(err) => return (Err(err), buf),
        };
        let (result, mut bufs) =
            Op::new(op::send_msg::send_msg(&self.fd, vec![buf], Some(addr))).await;
        let result = result.map_err(|err| with_path(err, "sending to", path));
        (result, take_only(&mut bufs))
    }

    /// Receives one datagram into `buf` (from its start, up to its capacity); returns its length
    /// and its sender (unnamed if the sender is not bound).
    ///
    /// # Cancel safety
    ///
    /// A datagram received for a dropped call is lost (see the type's docs).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (result, buf) = Op::new(op::recv_ctl::recv_ctl(&self.fd, buf, 0)).await;
        (result.map(|got| (got.len, SocketAddr::new(got.from))), buf)
    }

    /// Sends `buf`'s initialized bytes as one datagram to the connected peer.
    ///
    /// # Cancel safety
    ///
    /// As [`send_to`](UnixDatagram::send_to).
    pub fn send<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + use<'_, B> {
        // The op's own future (see `net/future_sizes.rs`).
        Op::new(op::send::send(&self.fd, buf))
    }

    /// Receives one datagram from the connected peer into `buf`; returns its length.
    ///
    /// # Cancel safety
    ///
    /// As [`recv_from`](UnixDatagram::recv_from).
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        let (result, buf) = Op::new(op::recv_ctl::recv_ctl(&self.fd, buf, 0)).await;
        (result.map(|got| got.len), buf)
    }

    /// Sends `buf` as one datagram to the connected peer with `fds` passed along, as
    /// [`UnixStream::send_with_fds`](super::UnixStream::send_with_fds) does (the descriptors
    /// are duplicated and held by the operation; at most 253).
    ///
    /// # Cancel safety
    ///
    /// As [`send_to`](UnixDatagram::send_to).
    pub fn send_with_fds<'a, B: IoBuf>(
        &'a self,
        buf: B,
        fds: &'a [BorrowedFd<'a>],
    ) -> impl Future<Output = BufResult<usize, B>> + use<'a, B> {
        send_with_fds(&self.fd, buf, fds, None)
    }

    /// Receives one datagram into `buf` with the descriptors that came with it, at most
    /// `max_fds` (the kernel closes any beyond that); they are close-on-exec.
    ///
    /// # Cancel safety
    ///
    /// As [`recv_from`](UnixDatagram::recv_from); descriptors a dropped receive got are closed.
    pub async fn recv_with_fds<B: IoBufMut>(
        &self,
        buf: B,
        max_fds: usize,
    ) -> BufResult<(usize, Vec<OwnedFd>), B> {
        let (result, buf) = Op::new(op::recv_ctl::recv_ctl(&self.fd, buf, max_fds)).await;
        (result.map(|got| (got.len, got.fds)), buf)
    }

    /// The credentials of the peer process, for a connected socket (as when it connected, or
    /// when the pair was made).
    pub fn peer_cred(&self) -> io::Result<UCred> {
        UCred::of(self.as_fd())
    }

    /// The address this socket is bound to (unnamed if it is not).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(SockRef::from(self).local_addr()?))
    }

    /// The connected peer's address (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(SockRef::from(self).peer_addr()?))
    }
}

/// Sends `buf` on `fd` with duplicates of `fds` (owned by the op until its completion); on a
/// stream, as an op of the writing direction whose flag is `loss`.
pub(super) async fn send_with_fds<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    fds: &[BorrowedFd<'_>],
    loss: Option<&LossFlag>,
) -> BufResult<usize, B> {
    let send = |bufs| {
        let owned = fds.iter().map(BorrowedFd::try_clone_to_owned).collect();
        let owned: Vec<OwnedFd> = match owned {
            Ok(owned) => owned,
            Err(err) => return Err((err, bufs)),
        };
        op::send_msg::send_msg_with_fds(fd, bufs, owned)
    };
    let (result, mut bufs) = match loss {
        Some(loss) => loss.guard("write", vec![buf], send).await,
        None => match send(vec![buf]) {
            Ok(data) => Op::new(data).await,
            Err((err, bufs)) => (Err(err), bufs),
        },
    };
    (result, take_only(&mut bufs))
}

socket_fd_impls!(UnixDatagram => fd, debug: local_addr);
