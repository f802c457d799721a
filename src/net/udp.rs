//! [`UdpSocket`]: datagrams sent and received through the ring.

use super::{first_ok, socket_addr};
use crate::buf::put_slice;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op;
use crate::op::keep::{Datagram, Kept, Leftover};
use crate::op::recv_msg::RecvMsg;
use crate::op::Op;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

/// A UDP socket.
///
/// Binding and connecting are synchronous (neither waits for the network); sending and receiving
/// go through the ring with owned buffers. A datagram larger than the receive buffer is cut to
/// the buffer's capacity (the rest is discarded, as with `recv(2)`). So, unlike a stream read,
/// a receive into a buffer with no room still waits for a datagram, and consumes it (as std's
/// and tokio's do): it returns `Ok(0)` once one arrived, and the datagram is gone.
///
/// ```
/// use coring::net::UdpSocket;
///
/// coring::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"ping".to_vec(), b.local_addr()?).await.0?;
///     let (result, buf) = b.recv_from(Vec::with_capacity(1500)).await;
///     let (n, from) = result?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// [`recv_from`](UdpSocket::recv_from) and [`recv`](UdpSocket::recv) are cancel safe: if the
/// future is dropped (a `select!` took another branch, a `timeout` ran out) after the kernel had
/// already received a datagram into its buffer, the datagram is kept on the socket and the next
/// receive returns it, in order, before any datagram that came later. It is kept as far as the
/// dropped receive's buffer held it: a datagram longer than that buffer was already cut.
/// [`send_to`](UdpSocket::send_to) and [`send`](UdpSocket::send) send the whole datagram or
/// nothing: dropped before completion, the datagram may or may not have been sent.
///
/// The socket is closed on drop, at once if no operation on it is in flight (otherwise once the
/// kernel has finished the last one).
#[derive(Debug)]
pub struct UdpSocket {
    fd: SharedFd,
    /// Datagrams that arrived for receives whose futures were dropped.
    kept: Kept<Datagram>,
    /// The connected peer, if any: the sender of every datagram a plain `recv` takes.
    peer: Cell<Option<SocketAddr>>,
}

impl UdpSocket {
    /// Binds to `addr` (each address it resolves to is tried in order; the last error is
    /// returned). A host name is resolved with the system resolver, which may block; bind a
    /// literal address such as `"0.0.0.0:5353"` on a running runtime.
    pub fn bind(addr: impl std::net::ToSocketAddrs) -> io::Result<UdpSocket> {
        let socket = first_ok(addr.to_socket_addrs()?, |addr| {
            // socket2 creates the socket with SOCK_CLOEXEC on Linux.
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            socket.bind(&addr.into())?;
            Ok(socket)
        })?;
        Ok(UdpSocket::from_fd(socket.into()))
    }

    /// Wraps a socket made with the standard library (it is switched to blocking mode, which
    /// io_uring handles without blocking the thread).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket::from_fd(super::blocking_fd(socket)?))
    }

    fn from_fd(fd: OwnedFd) -> UdpSocket {
        let socket = UdpSocket {
            fd: SharedFd::new_closed_at_once(fd),
            kept: Kept::default(),
            peer: Cell::new(None),
        };
        // A socket from `from_std` may be connected already.
        socket.peer.set(socket.peer_addr().ok());
        socket
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there and only its datagrams are
    /// received. Synchronous (UDP has no handshake); the first address `addr` resolves to that
    /// works is used.
    pub fn connect(&self, addr: impl std::net::ToSocketAddrs) -> io::Result<()> {
        let socket = SockRef::from(self);
        first_ok(addr.to_socket_addrs()?, |addr| socket.connect(&addr.into()))?;
        self.peer.set(self.peer_addr().ok());
        Ok(())
    }

    /// Sends `buf`'s initialized bytes as one datagram to `target`; returns the bytes sent.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram goes whole or not at all; dropped before it completes, it may or
    /// may not have been sent.
    pub async fn send_to<B: IoBuf>(&self, buf: B, target: SocketAddr) -> BufResult<usize, B> {
        let addr = Some(SockAddr::from(target));
        let (result, mut bufs) = Op::new(op::send_msg::send_msg(&self.fd, vec![buf], addr)).await;
        (result, take_only(&mut bufs))
    }

    /// Receives one datagram into `buf` (from its start, up to its capacity); returns its length
    /// and its sender.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram the kernel had already received for a dropped call is returned
    /// by the next receive (see the type's docs).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (result, buf) = match self.take_kept(buf).await {
            Ok((result, buf)) => (result.and_then(|(n, from)| sender(n, from)), buf),
            Err(buf) => {
                let (result, mut bufs) = self.recv_msg(buf).await;
                (
                    result.and_then(|(n, from)| sender(n, from)),
                    take_only(&mut bufs),
                )
            }
        };
        (result, buf)
    }

    /// One `RECVMSG` into `buf`: the kernel says who sent the datagram, also when it is kept
    /// after the call was dropped.
    fn recv_msg<B: IoBufMut>(&self, buf: B) -> Op<RecvMsg<B>> {
        let leftover = Leftover::Datagram(self.kept.watch(), None);
        Op::new(op::recv_msg::recv_msg(&self.fd, vec![buf], leftover))
    }

    /// Sends `buf`'s initialized bytes as one datagram to the connected peer.
    ///
    /// # Cancel safety
    ///
    /// As [`send_to`](UdpSocket::send_to).
    pub fn send<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + use<'_, B> {
        // The op's own future (see `net/future_sizes.rs`).
        Op::new(op::send::send(&self.fd, buf))
    }

    /// Receives one datagram from the connected peer into `buf` (from its start, up to its
    /// capacity); returns its length.
    ///
    /// # Cancel safety
    ///
    /// As [`recv_from`](UdpSocket::recv_from).
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        match self.take_kept(buf).await {
            Ok((result, buf)) => (result.map(|(n, _)| n), buf),
            // Connected: a plain receive, and a datagram kept from a dropped call came from
            // the peer.
            Err(buf) => match self.peer.get() {
                Some(peer) => {
                    let leftover = Leftover::Datagram(self.kept.watch(), Some(peer));
                    Op::new(op::recv::recv(&self.fd, buf, leftover)).await
                }
                // Not connected (`recv` then takes a datagram from anyone): a kept datagram
                // must know its sender for a later `recv_from`, which only RECVMSG tells.
                None => {
                    let (result, mut bufs) = self.recv_msg(buf).await;
                    (result.map(|(n, _)| n), take_only(&mut bufs))
                }
            },
        }
    }

    /// The oldest datagram kept from a dropped receive, copied into `buf` (cut to its capacity),
    /// once no dropped receive is still in flight; `Err(buf)` if there is none to take.
    #[allow(clippy::type_complexity)]
    async fn take_kept<B: IoBufMut>(
        &self,
        mut buf: B,
    ) -> Result<BufResult<(usize, Option<SocketAddr>), B>, B> {
        match self.kept.take("receive").await {
            Ok(Some(datagram)) => {
                let n = put_slice(&mut buf, &datagram.bytes);
                Ok((Ok((n, datagram.from)), buf))
            }
            Ok(None) => Err(buf),
            Err(err) => Ok((Err(err), buf)),
        }
    }

    /// The address this socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(SockRef::from(self).local_addr()?)
    }

    /// The connected peer's address (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(SockRef::from(self).peer_addr()?)
    }

    /// Sets `SO_BROADCAST`: whether datagrams may be sent to a broadcast address.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        SockRef::from(self).set_broadcast(on)
    }
}

/// A received datagram's length and sender; every datagram on an IPv4 or IPv6 socket has one.
fn sender(n: usize, from: Option<SocketAddr>) -> io::Result<(usize, SocketAddr)> {
    match from {
        Some(from) => Ok((n, from)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "coring: a datagram arrived without an IPv4 or IPv6 sender address",
        )),
    }
}

/// The single buffer a one-buffer message op hands back (UDP and Unix datagrams).
pub(super) fn take_only<B>(bufs: &mut Vec<B>) -> B {
    bufs.pop()
        .unwrap_or_else(|| unreachable!("coring: a message op hands back the buffers it took"))
}

socket_fd_impls!(UdpSocket => fd);
