//! [`UnixStream`]: a Unix stream connection whose reads and writes go through the ring.
//!
//! The byte-stream machinery (reads and writes on the ring, the loss flags that keep a
//! cancelled read from leaving a silent gap, `write_all`'s cut-short mark, the buffer-ring read
//! path) is the same as TCP's and does not depend on the address family, so a `UnixStream`
//! holds a [`TcpStream`] over its Unix socket and lends it the stream operations, adding what
//! only Unix sockets have.

use super::addr::{sock_addr, with_path};
use super::{OwnedReadHalf, OwnedWriteHalf, SocketAddr, UCred};
use crate::buf::{BufResult, BufRing, IoBuf, IoBufMut};
use crate::net::{RecvStream, TcpStream};
use crate::op;
use socket2::{Domain, SockRef, Socket, Type};
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// A Unix stream connection.
///
/// Reads and writes work exactly as on [`TcpStream`] (owned buffers, `&self` methods, the same
/// cancellation rules: see [`TcpStream`]'s "Cancellation" section), and it can be split with
/// [`into_split`](UnixStream::into_split). The socket is closed on drop, through the ring, once
/// no operation on it is in flight.
///
/// ```
/// use coring::net::UnixStream;
///
/// coring::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     a.write_all(b"hello".to_vec()).await.0?;
///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n?], b"hello");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct UnixStream {
    inner: TcpStream,
}

impl UnixStream {
    /// Connects to the socket at `path` (a first byte `\0` makes it an abstract name).
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing exists at `path`, `ConnectionRefused` if a file exists there but
    /// nobody listens on it (a socket file left behind), `PermissionDenied`, ...; the message
    /// names the path.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the connect and closes the socket.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let addr = sock_addr(path)?;
        // socket2 creates the socket with SOCK_CLOEXEC on Linux.
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        let stream = UnixStream::from_fd(socket.into());
        op::connect::connect(stream.inner.shared_fd(), addr)
            .await
            .map_err(|err| with_path(err, "connecting to", path))?;
        Ok(stream)
    }

    /// A pair of connected streams (`socketpair(2)`), each end's writes read at the other.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        Ok((UnixStream::from_fd(a.into()), UnixStream::from_fd(b.into())))
    }

    /// Wraps a connection made with the standard library (it is switched to blocking mode, which
    /// io_uring handles without blocking the thread).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream::from_fd(crate::net::blocking_fd(stream)?))
    }

    /// Turns the stream back into a standard library one, to hand it to another worker, a
    /// thread or another runtime; as [`TcpStream::into_std`], whose example shows the hand-over.
    ///
    /// # Errors
    ///
    /// As [`TcpStream::into_std`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the stream, closing the connection.
    pub async fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        let fd = self.inner.into_owned_fd().await?;
        Ok(std::os::unix::net::UnixStream::from(fd))
    }

    pub(super) fn from_fd(fd: OwnedFd) -> UnixStream {
        UnixStream {
            inner: TcpStream::from_fd(fd),
        }
    }

    pub(super) fn from_inner(inner: TcpStream) -> UnixStream {
        UnixStream { inner }
    }

    forward_stream_methods! {
        inner;

        /// As [`TcpStream::read`].
        read => "As [`TcpStream::read`]: a dropped read that had taken bytes fails later reads rather \
            than leave a gap; one that had taken none loses nothing.";

        /// As [`TcpStream::readv`].
        readv => "As [`read`](UnixStream::read).";

        /// As [`TcpStream::write`].
        write => "As [`TcpStream::write`]: a dropped write that had sent bytes fails later writes.";

        /// As [`TcpStream::write_all`].
        write_all => "Dropped after some bytes went out but not all, later writes fail (the peer has a cut-off \
            message).";

        /// As [`TcpStream::writev`].
        writev => "As [`write`](UnixStream::write).";
    }

    /// Shuts down the reading side, the writing side (the peer reads end of stream once it has
    /// read everything sent), or both.
    ///
    /// # Cancel safety
    ///
    /// Dropped, the shutdown may or may not have happened.
    pub fn shutdown(&self, how: Shutdown) -> impl Future<Output = io::Result<()>> + use<'_> {
        self.inner.shutdown(how)
    }

    /// As [`TcpStream::recv_stream`]: received data as buffers picked from `ring` by the kernel.
    pub fn recv_stream(&self, ring: &BufRing) -> RecvStream {
        self.inner.recv_stream(ring)
    }

    /// Writes some of `buf`'s initialized bytes, as [`write`](UnixStream::write), passing `fds`
    /// along with them (`SCM_RIGHTS`): the peer receives open descriptors to the same files
    /// with [`recv_with_fds`](UnixStream::recv_with_fds). `buf` must not be empty (the
    /// descriptors travel with the first byte). At most 253 descriptors; more is
    /// `InvalidInput`.
    ///
    /// The descriptors are duplicated (close-on-exec) when the call starts and the duplicates
    /// are held by the operation until the kernel has sent them, so the caller may close its
    /// own at once. If the write fails, the peer gets none.
    ///
    /// # Cancel safety
    ///
    /// As [`write`](UnixStream::write); the descriptors may or may not have been sent.
    pub fn send_with_fds<'a, B: IoBuf>(
        &'a self,
        buf: B,
        fds: &'a [BorrowedFd<'a>],
    ) -> impl Future<Output = BufResult<usize, B>> + use<'a, B> {
        send_with_fds(&self.inner, buf, fds)
    }

    /// Reads into `buf`, as [`read`](UnixStream::read), and takes the descriptors that came
    /// with those bytes (sent with [`send_with_fds`](UnixStream::send_with_fds)), at most
    /// `max_fds` of them (253 at most); the kernel closes any beyond that. The received
    /// descriptors are close-on-exec. A buffer with no room is `InvalidInput` (an empty read
    /// could not tell the end of the stream from a message with no bytes).
    ///
    /// # Cancel safety
    ///
    /// As [`read`](UnixStream::read); descriptors a dropped read received are closed.
    pub fn recv_with_fds<B: IoBufMut>(
        &self,
        buf: B,
        max_fds: usize,
    ) -> impl Future<Output = BufResult<(usize, Vec<OwnedFd>), B>> + use<'_, B> {
        recv_with_fds(&self.inner, buf, max_fds)
    }

    /// The credentials of the process at the other end, as they were when it connected.
    pub fn peer_cred(&self) -> io::Result<UCred> {
        UCred::of(self.as_fd())
    }

    /// The address of the other end (unnamed if the peer never bound one).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(SockRef::from(self).peer_addr()?))
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(SockRef::from(self).local_addr()?))
    }

    /// Splits the stream into a reading half and a writing half that can move to different
    /// tasks, as [`TcpStream::into_split`] does.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        super::split::split(self.inner)
    }
}

/// [`UnixStream::send_with_fds`] on the stream machinery, shared with the writing half.
pub(super) async fn send_with_fds<B: IoBuf>(
    inner: &TcpStream,
    buf: B,
    fds: &[BorrowedFd<'_>],
) -> BufResult<usize, B> {
    if buf.bytes_init() == 0 {
        return (Err(empty_with_fds()), buf);
    }
    let loss = Some(inner.write_loss());
    super::datagram::send_with_fds(inner.shared_fd(), buf, fds, loss).await
}

/// [`UnixStream::recv_with_fds`] on the stream machinery, shared with the reading half.
pub(super) async fn recv_with_fds<B: IoBufMut>(
    inner: &TcpStream,
    buf: B,
    max_fds: usize,
) -> BufResult<(usize, Vec<OwnedFd>), B> {
    if buf.bytes_total() == 0 {
        return (Err(no_room_for_fds()), buf);
    }
    let recv = |buf| Ok(op::recv_ctl::recv_ctl(inner.shared_fd(), buf, max_fds));
    let (result, buf) = inner.read_loss().guard("read", buf, recv).await;
    (result.map(|got| (got.len, got.fds)), buf)
}

fn empty_with_fds() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "coring: descriptors travel with bytes on a stream: send_with_fds needs a non-empty buffer",
    )
}

fn no_room_for_fds() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "coring: descriptors travel with bytes on a stream: recv_with_fds needs room for a byte",
    )
}

socket_fd_impls!(UnixStream => inner, debug: local_addr, peer_addr);

forward_rent_io!(read: UnixStream => inner);
forward_rent_io!(write: UnixStream => inner);

#[cfg(test)]
mod tests {
    use super::super::{datagram, UnixDatagram};
    use super::{recv_with_fds, send_with_fds, UnixStream};
    use std::mem::size_of_val;
    use std::os::fd::AsFd;

    /// The descriptor-passing methods return the shared functions' futures: an `async fn` layer
    /// around them would keep a second copy of the buffer in every pending call.
    #[test]
    fn the_descriptor_passing_futures_are_the_size_of_the_shared_ones() {
        crate::block_on(async {
            let (stream, peer) = UnixStream::pair().unwrap();
            let fds = [peer.as_fd()];
            let buf = || vec![0u8; 16];
            let recv = size_of_val(&recv_with_fds(&stream.inner, buf(), 1));
            let send = size_of_val(&send_with_fds(&stream.inner, buf(), &fds));
            let fd = stream.inner.shared_fd();
            let datagram_send = size_of_val(&datagram::send_with_fds(fd, buf(), &fds, None));
            let (datagram, _other) = UnixDatagram::pair().unwrap();
            let mut sizes = vec![
                size_row!(datagram.send_with_fds(buf(), &fds), datagram_send),
                size_row!(stream.recv_with_fds(buf(), 1), recv),
                size_row!(stream.send_with_fds(buf(), &fds), send),
            ];
            let (read, write) = stream.into_split();
            sizes.extend([
                size_row!(read.recv_with_fds(buf(), 1), recv),
                size_row!(write.send_with_fds(buf(), &fds), send),
            ]);
            crate::net::future_sizes::assert_none_larger(&sizes);
        });
    }
}
