//! [`UnixListener`]: a listening Unix stream socket whose accepts go through the ring.

use super::addr::bound_socket;
use super::{SocketAddr, UnixStream};
use crate::net::listening::Listening;
use socket2::{SockAddr, SockRef, Type};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// A Unix stream socket listening for connections.
///
/// Binding is synchronous; [`accept`](UnixListener::accept) waits on the ring. The socket is
/// closed when the listener is dropped: at once (connecting then is refused, and an abstract
/// name is free again), or, if an accept is still in flight, once the kernel has finished it.
/// A socket *file* stays behind (see the [module docs](super)).
///
/// ```
/// use coring::net::{UnixListener, UnixStream};
///
/// coring::block_on(async {
///     let dir = std::env::temp_dir().join(format!("coring-doc-listener-{}", std::process::id()));
///     std::fs::create_dir_all(&dir)?;
///     let path = dir.join("server.sock");
///     let _ = std::fs::remove_file(&path); // a stale socket file from an earlier run
///     let listener = UnixListener::bind(&path)?;
///     assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
///     let _client = UnixStream::connect(&path).await?;
///     let (_stream, peer) = listener.accept().await?;
///     assert!(peer.is_unnamed()); // the client never bound an address
///     std::fs::remove_dir_all(&dir)
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct UnixListener {
    listening: Listening,
}

impl UnixListener {
    /// Binds to `path` and listens (backlog 1024). A `path` whose first byte is `\0` is an
    /// abstract name.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if `path` exists (any file, including a socket left by an earlier listener:
    /// remove it first) or the abstract name is taken; `NotFound` if its directory does not
    /// exist; `InvalidInput` if it is longer than a socket address holds (107 bytes), or empty
    /// (Linux would bind an empty path to a random abstract name nobody could find). The
    /// message names the path.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let socket = bound_socket(path.as_ref(), Type::STREAM, |socket| socket.listen(1024))?;
        Ok(UnixListener::from_fd(socket.into()))
    }

    /// Wraps a listener made with the standard library (it is switched to blocking mode, which
    /// io_uring handles without blocking the thread).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener::from_fd(crate::net::blocking_fd(listener)?))
    }

    fn from_fd(fd: OwnedFd) -> UnixListener {
        UnixListener {
            listening: Listening::new(fd),
        }
    }

    /// Waits for a connection and returns it with the peer's address (usually unnamed: clients
    /// rarely bind). The new socket is close-on-exec.
    ///
    /// Out of fds (`EMFILE`, `ENFILE`) or kernel memory, it returns that error and the
    /// connection stays in the backlog; the next accept then first waits a little (10 ms,
    /// doubling up to 50 ms while failures go on), so a loop that logs and retries does not
    /// spin, as with [`TcpListener`](crate::net::TcpListener).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`TcpListener::accept`](crate::net::TcpListener::accept): dropping the
    /// future cancels the accept, and a connection the kernel accepted anyway is kept for the
    /// next `accept` (closed with the listener if nobody takes it), never lost or leaked.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        if let Some((fd, _)) = self.listening.kept.take("accept").await? {
            // The kept address is only for IP peers; a Unix client's is read from the socket
            // (unnamed if it has gone: there was no name to lose).
            let stream = UnixStream::from_fd(fd);
            let peer = stream.peer_addr().or_else(|_| SocketAddr::unnamed())?;
            return Ok((stream, peer));
        }
        let (fd, peer) = self.listening.accept::<SockAddr>().await?;
        Ok((UnixStream::from_fd(fd), SocketAddr::new(peer)))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(SockRef::from(self).local_addr()?))
    }
}

socket_fd_impls!(UnixListener => listening, debug: local_addr);
