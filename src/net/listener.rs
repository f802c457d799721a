//! [`TcpListener`]: a listening TCP socket whose accepts go through the ring.

use super::listening::Listening;
use super::{first_ok, socket_addr, TcpStream};
use crate::op;
use crate::op::accept::Accept;
use crate::op::accept_multi::AcceptStream;
use crate::op::Op;
use crate::time::Sleep;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// How to set up a listening socket, for [`TcpListener::bind_with`].
///
/// The defaults are those of [`TcpListener::bind`]: a backlog of 1024, `SO_REUSEADDR` on,
/// `SO_REUSEPORT` off.
///
/// ```
/// use coring::net::{ListenOptions, TcpListener};
///
/// // Two listeners on one port, as a thread-per-core server gives one to each core.
/// let options = ListenOptions::new().reuse_port(true).backlog(4096);
/// let first = TcpListener::bind_with("127.0.0.1:0", &options)?;
/// let second = TcpListener::bind_with(first.local_addr()?, &options)?;
/// assert_eq!(first.local_addr()?, second.local_addr()?);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone)]
pub struct ListenOptions {
    backlog: i32,
    reuse_address: bool,
    reuse_port: bool,
    only_v6: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
        }
    }
}

impl ListenOptions {
    /// The defaults: backlog 1024, `SO_REUSEADDR` on, `SO_REUSEPORT` off.
    pub fn new() -> Self {
        Self::default()
    }

    /// The length of the queue of connections waiting to be accepted (the kernel caps it at
    /// `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// `SO_REUSEADDR`: rebind a port that still has connections in `TIME_WAIT` (on by default).
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.reuse_address = reuse;
        self
    }

    /// `SO_REUSEPORT`: let several listeners bind the same address, the kernel spreading new
    /// connections among them; one listener per core is the usual thread-per-core set-up.
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }

    /// `IPV6_V6ONLY` for IPv6 addresses: whether `[::]` also accepts IPv4 connections (`false`)
    /// or not (`true`). Unset, the system default applies.
    pub fn only_v6(mut self, only_v6: bool) -> Self {
        self.only_v6 = Some(only_v6);
        self
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<Socket> {
        // socket2 creates the socket with SOCK_CLOEXEC on Linux.
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(self.reuse_address)?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if let (Some(only_v6), SocketAddr::V6(_)) = (self.only_v6, addr) {
            socket.set_only_v6(only_v6)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(self.backlog)?;
        Ok(socket)
    }
}

/// A TCP socket listening for connections.
///
/// Binding is synchronous (it never waits); [`accept`](TcpListener::accept) waits on the ring.
/// The socket is closed when the listener is dropped: at once, or, if an accept on it is still
/// in flight (a dropped `accept` or `incoming()` being cancelled), once the kernel has finished
/// it.
///
/// ```
/// use coring::net::{TcpListener, TcpStream};
///
/// coring::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let client = coring::spawn(async move { TcpStream::connect(addr).await });
///     let (stream, peer) = listener.accept().await?;
///     assert_eq!(peer, client.await.unwrap()?.local_addr()?);
///     assert_eq!(stream.local_addr()?, addr);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Running out of file descriptors
///
/// When the process (`EMFILE`) or the system (`ENFILE`) is out of fds, or the kernel out of memory
/// (`ENOBUFS`, `ENOMEM`), `accept` returns that error and the connection stays in the backlog.
/// Trying again at once would fail again at once, so the *next* accept on this listener first
/// waits: 10 ms, doubling with each consecutive failure up to 50 ms. A loop that logs the error and
/// accepts again therefore does not spin; a successful accept resets the wait.
///
/// # Cancel safety
///
/// [`accept`](TcpListener::accept) and [`Incoming::next`] are cancel safe: if the future is
/// dropped (a `select!` took another branch, a `timeout` ran out) after the kernel had already
/// accepted a connection, the connection is kept on the listener and the next `accept` or
/// `incoming().next()` returns it; the client never sees it closed. The same holds for
/// connections a dropped [`Incoming`] had taken and not yet returned. Connections kept this way
/// and never taken are closed with the listener. One kept by a dropped `Incoming` (which learns
/// no peer address) whose client reset it before the next `accept` is skipped by that `accept`,
/// which cannot name its peer any more; `incoming().next()` returns it like any other, and its
/// first read reports the reset.
pub struct TcpListener {
    listening: Listening,
}

impl TcpListener {
    /// Binds to `addr` and listens, with the defaults of [`ListenOptions`].
    ///
    /// `addr` is anything `std` can turn into socket addresses; each is tried in order and the
    /// last error is returned if none works. A host name is resolved with the system resolver,
    /// which may block: servers normally bind a literal address such as `"0.0.0.0:8080"`.
    ///
    /// # Errors
    ///
    /// The socket's errors, such as `AddrInUse` when another socket listens on the address.
    /// `AddrInUse` also comes for a few milliseconds after a process that listened there was
    /// killed (SIGKILL, or a crash) with an accept in flight: the kernel holds the socket for
    /// the dead process's io_uring instance, and lets it go only when it tears that ring down,
    /// asynchronously, after the process is gone. `SO_REUSEADDR` does not help (the old socket
    /// still listens). A server that a supervisor restarts at once should retry the bind for a
    /// moment, as coring's example servers do.
    pub fn bind(addr: impl std::net::ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, &ListenOptions::default())
    }

    /// Binds to `addr` and listens, set up as `options` says (backlog, `SO_REUSEPORT`, ...).
    pub fn bind_with(
        addr: impl std::net::ToSocketAddrs,
        options: &ListenOptions,
    ) -> io::Result<TcpListener> {
        let socket = first_ok(addr.to_socket_addrs()?, |addr| options.listen(addr))?;
        Ok(TcpListener::from_fd(socket.into()))
    }

    /// Wraps a listener made with the standard library (it is switched to blocking mode, which
    /// io_uring handles without blocking the thread).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener::from_fd(super::blocking_fd(listener)?))
    }

    fn from_fd(fd: OwnedFd) -> TcpListener {
        TcpListener {
            listening: Listening::new(fd),
        }
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// The new socket is close-on-exec. Errors are returned as they come (see the type's docs
    /// for the wait after running out of fds).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future cancels the accept, and a connection accepted anyway
    /// is kept for the next one (see the type's docs).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        while let Some((stream, peer)) = self.take_kept().await? {
            // Kept by a dropped multishot accept, which asks for no address: the socket tells
            // it, unless the client has reset the connection since. Such a connection is
            // skipped (closed): it is gone, and failing this accept for it would report an
            // error about a connection the caller never saw.
            match peer.map_or_else(|| stream.peer_addr(), Ok) {
                Ok(peer) => return Ok((stream, peer)),
                Err(err) if err.kind() == io::ErrorKind::NotConnected => continue,
                Err(err) => return Err(err),
            }
        }
        let (fd, peer) = self.listening.accept().await?;
        Ok((TcpStream::from_fd(fd), peer))
    }

    /// A stream of incoming connections, served by one multishot accept: a single submission
    /// yields a completion per connection, re-armed only when the kernel ends it (after an
    /// error, such as running out of fds, which also starts the back-off of [`accept`]).
    ///
    /// [`accept`]: TcpListener::accept
    ///
    /// ```
    /// # use coring::net::TcpListener;
    /// # async fn serve(listener: TcpListener) {
    /// let mut incoming = listener.incoming();
    /// while let Some(stream) = incoming.next().await {
    ///     match stream {
    ///         Ok(stream) => drop(coring::spawn(async move { drop(stream) })),
    ///         Err(err) => eprintln!("accept: {err}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            multi: AcceptStream::default(),
            single_shot: false,
            single: None,
            backoff: None,
        }
    }

    /// A connection accepted for a dropped accept (with its peer, if known), once no dropped
    /// accept is still in flight.
    async fn take_kept(&self) -> io::Result<Option<(TcpStream, Option<SocketAddr>)>> {
        let kept = self.listening.kept.take("accept").await?;
        Ok(kept.map(|(fd, peer)| (TcpStream::from_fd(fd), peer)))
    }

    /// The address the listener is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(SockRef::from(self).local_addr()?)
    }
}

socket_fd_impls!(TcpListener => listening, debug: local_addr);

/// Incoming connections of a [`TcpListener`]; see [`TcpListener::incoming`].
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    /// The multishot accept.
    multi: AcceptStream,
    /// The kernel refused multishot accept (`EINVAL`: before Linux 5.19): one accept per call.
    single_shot: bool,
    /// The single-shot accept in flight.
    single: Option<Op<Accept>>,
    /// The wait before arming an accept after accepts ran out of resources.
    backoff: Option<Sleep>,
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", self.listener)
            .finish()
    }
}

impl<'a> Incoming<'a> {
    /// The next connection, or the error accepting it. Never `None`: a listener does not run out
    /// of connections; the `Option` lets `while let` loops read naturally.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping this future loses nothing (connections wait in the stream), and
    /// dropping the `Incoming` keeps the connections it had taken for the listener's next
    /// accept (see [`TcpListener`]'s docs).
    #[allow(clippy::should_implement_trait)] // an async `next`, as on a stream: no `Iterator`
    pub fn next(&mut self) -> impl Future<Output = Option<io::Result<TcpStream>>> + use<'_, 'a> {
        // `poll_fn`'s own future: an `async fn` around it would keep a second `&mut self`.
        poll_fn(|cx| self.poll_next(cx))
    }

    /// Polls for the next connection (see [`next`](Incoming::next)); for hand-written futures
    /// and the `futures_core::Stream` impl (feature `futures-io`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection accepted between two polls waits in the stream for the next
    /// poll, and dropping the `Incoming` keeps it for the listener's next accept.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<TcpStream>>> {
        let listening = &self.listener.listening;
        loop {
            // Connections a dropped accept took anyway come first (see `TcpListener::accept`).
            match ready!(listening.kept.poll_take(cx, "accept")) {
                Ok(Some((fd, _))) => return Poll::Ready(Some(Ok(TcpStream::from_fd(fd)))),
                Ok(None) => {}
                Err(err) => return Poll::Ready(Some(Err(err))),
            }
            if !self.multi.is_armed() && self.single.is_none() {
                if self.backoff.is_none() {
                    self.backoff = listening.backoff.sleep();
                }
                if let Some(sleep) = &mut self.backoff {
                    ready!(Pin::new(sleep).poll(cx));
                    self.backoff = None;
                }
            }
            if self.single_shot {
                let op = self.single.get_or_insert_with(|| {
                    op::accept::accept(&listening.fd, listening.kept.watch())
                });
                let result = ready!(Pin::new(op).poll(cx));
                self.single = None;
                listening.backoff.note(result.as_ref().err());
                return Poll::Ready(Some(result.map(|(fd, _)| TcpStream::from_fd(fd))));
            }
            let next = self
                .multi
                .poll_next(cx, &listening.fd, || listening.kept.watch());
            if let Some(result) = ready!(next) {
                // A kernel without multishot accept fails every arming with EINVAL at once;
                // re-arming would spin. Single-shot accepts then do the job (and say EINVAL
                // themselves if the socket really is not listening).
                let refused = !self.multi.is_armed()
                    && result.as_ref().err().and_then(io::Error::raw_os_error)
                        == Some(libc::EINVAL);
                if refused {
                    self.single_shot = true;
                    continue;
                }
                listening.backoff.note(result.as_ref().err());
                return Poll::Ready(Some(result.map(TcpStream::from_fd)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_to_a_plain_reusable_listener() {
        let options = ListenOptions::new();
        assert_eq!(options.backlog, 1024);
        assert!(options.reuse_address && !options.reuse_port);
        assert_eq!(ListenOptions::new().backlog(u32::MAX).backlog, i32::MAX);
    }
}
