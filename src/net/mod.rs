//! Networking on the ring: TCP, UDP and [Unix](unix) sockets whose I/O goes through io_uring with owned buffers.
//!
//! Sockets are created, bound and configured synchronously with ordinary system calls (through
//! `socket2`; none of them block). Everything that waits — accepting, connecting, reading,
//! writing, shutting down — is an io_uring operation (on the epoll backend, where io_uring is
//! refused, the same call runs non-blocking when epoll says the socket is ready):
//!
//! | type            | waits on the ring                                                    |
//! |-----------------|----------------------------------------------------------------------|
//! | [`TcpListener`] | `accept`                                                             |
//! | [`TcpStream`]   | `connect`, `read`, `readv`, `write`, `writev`, `write_all`, `shutdown` |
//! | [`UdpSocket`]   | `send_to`, `recv_from`, `send`, `recv`                               |
//! | [`UnixListener`], [`UnixStream`], [`UnixDatagram`] | as above, addressed by a path; see [`unix`] |
//!
//! [`TcpStream::connect`] takes anything [`ToSocketAddrs`] covers — a `SocketAddr`,
//! `"127.0.0.1:80"`, `"localhost:80"`, `("example.com", 80)` — and resolves host names with
//! [`lookup_host`], on the blocking pool, so the core never waits for DNS. `bind` takes
//! `std::net::ToSocketAddrs`, as binding happens once, at start-up, usually to a literal address.
//!
//! # Owned buffers
//!
//! Reads and writes take the buffer by value and give it back with the result, as a
//! [`BufResult`](crate::buf::BufResult): the kernel uses the memory after the call returns, so it
//! must not be borrowed. Reads fill the buffer from its start, up to its capacity.
//!
//! # Cancellation
//!
//! Dropping an operation's future (say, through [`time::timeout`](crate::time::timeout)) asks the
//! kernel to cancel it; the runtime keeps the buffer, the address and the socket open until the
//! kernel has let go of them. What the kernel may already have done is handled per operation:
//!
//! * an `accept` that completed anyway keeps its connection on the listener for the next
//!   `accept`, and a UDP receive that completed anyway keeps its datagram for the next receive:
//!   both are cancel safe;
//! * a stream `read` (or `write`) that had already moved bytes cannot give them back: the stream
//!   remembers it, and every later read (or write) in that direction fails with an error saying
//!   so, rather than silently skipping bytes;
//! * a cancelled `connect` closes its socket.
//!
//! Each async method says which in a "Cancel safety" section of its docs.
//!
//! # Errors
//!
//! Errors come from the kernel's errno, so they carry the usual [`std::io::ErrorKind`]:
//! `ConnectionRefused`, `ConnectionReset`, `BrokenPipe` (writes never raise `SIGPIPE`),
//! `AddrInUse`, and `TimedOut` from [`TcpStream::connect_timeout`].
//!
//! # Example
//!
//! An echo round trip over loopback:
//!
//! ```
//! use coring::net::{TcpListener, TcpStream};
//!
//! coring::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = coring::spawn(async move {
//!         let (stream, _peer) = listener.accept().await?;
//!         let (n, buf) = stream.read(Vec::with_capacity(64)).await;
//!         n?;
//!         stream.write_all(buf).await.0
//!     });
//!
//!     let client = TcpStream::connect(addr).await?;
//!     client.write_all(b"ping".to_vec()).await.0?;
//!     let (n, buf) = client.read(Vec::with_capacity(64)).await;
//!     assert_eq!(&buf[..n?], b"ping");
//!     server.await.unwrap()
//! })?;
//! # std::io::Result::Ok(())
//! ```

#[macro_use]
mod forward;
mod addr;
mod backoff;
#[cfg(test)]
#[macro_use]
mod future_sizes;
mod io_impls;
mod listener;
mod listening;
mod owned_send;
mod split;
mod stream;
mod udp;
pub mod unix;
mod zero_copy;

pub use addr::{lookup_host, ToSocketAddrs};
pub use listener::{Incoming, ListenOptions, TcpListener};
pub use owned_send::OwnedSend;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};
pub use stream::TcpStream;
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
pub use zero_copy::RecvStream;

use socket2::{SockAddr, Socket};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

/// The descriptor of a socket made with the standard library, for the `from_std` of every
/// socket type: switched to blocking mode, which io_uring handles without blocking the thread.
fn blocking_fd(socket: impl Into<OwnedFd>) -> io::Result<OwnedFd> {
    let socket = Socket::from(socket.into());
    socket.set_nonblocking(false)?;
    Ok(socket.into())
}

/// An IPv4 or IPv6 address out of a `SockAddr` the kernel reported.
fn socket_addr(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "coring: the socket's address is not an IPv4 or IPv6 address",
        )
    })
}

/// Runs `each` on every address `addrs` resolves to, in order, until one succeeds; otherwise
/// returns the last error (as `std::net` does).
fn first_ok<T>(
    addrs: impl IntoIterator<Item = SocketAddr>,
    mut each: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs {
        match each(addr) {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "coring: the address did not resolve to any socket address",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ok_returns_the_last_error_or_the_first_success() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let err = first_ok([a, b], |addr| {
            Err::<(), _>(io::Error::other(addr.port().to_string()))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "2");
        assert_eq!(first_ok([a, b], |addr| Ok(addr.port())).unwrap(), 1);
        let none = first_ok(std::iter::empty(), Ok).unwrap_err();
        assert_eq!(none.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn socket_addr_rejects_unix_addresses() {
        let unix = SockAddr::unix("/tmp/coring-test").unwrap();
        assert!(socket_addr(unix).is_err());
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(socket_addr(SockAddr::from(v6)).unwrap(), v6);
    }
}
