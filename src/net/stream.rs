//! [`TcpStream`]: a TCP connection whose reads and writes go through the ring.

use super::addr::resolve;
use super::{socket_addr, OwnedReadHalf, OwnedWriteHalf, ToSocketAddrs};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::uring::parks;
use crate::fd::SharedFd;
use crate::io::ext::{write_all, WriteSome};
use crate::io::CutShortMark;
use crate::op;
use crate::op::keep::Leftover;
use crate::op::loss::LossFlag;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;

/// A TCP connection.
///
/// Every method takes `&self`, so one task can read while another writes through a shared
/// reference (or an `Rc<TcpStream>`), or the stream can be split into owned halves with
/// [`into_split`](TcpStream::into_split). The socket is closed on drop, through the ring, once no
/// operation on it is in flight.
///
/// ```
/// use coring::net::{TcpListener, TcpStream};
/// use std::net::Shutdown;
///
/// coring::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let client = coring::spawn(async move {
///         let stream = TcpStream::connect(addr).await?;
///         stream.set_nodelay(true)?;
///         stream.write_all(b"hello".to_vec()).await.0?;
///         stream.shutdown(Shutdown::Write).await
///     });
///
///     let (stream, _) = listener.accept().await?;
///     let mut received = Vec::new();
///     loop {
///         let (n, buf) = stream.read(Vec::with_capacity(2)).await;
///         match n? {
///             0 => break, // end of stream: the client shut down its side
///             n => received.extend_from_slice(&buf[..n]),
///         }
///     }
///     assert_eq!(received, b"hello");
///     client.await.unwrap()
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancellation
///
/// Dropping a `read` or `write` future cancels it. If the kernel had already moved bytes (the
/// cancel lost the race), they cannot be handed back; the stream remembers it, and every later
/// read (for a lost read) or write (for a lost write) fails with an error saying so, instead of
/// carrying on with a gap in the byte stream. Cancelling a wait for data that has not arrived,
/// the usual case of a read timeout, loses nothing. Until the kernel has answered the cancel,
/// the next read (or write) waits for it before it starts: that is how it knows which of the
/// two happened. If only another runtime, one that is not running, can finish the cancelled op
/// (the stream moved to a new runtime after a read timed out), the next op fails at once
/// instead, saying so; it works again once that runtime is dropped or runs again. The same
/// holds for the zero-copy paths (`read_fixed`, `write_fixed`,
/// `send_zc`, `recv_stream`), which share the stream's two directions.
#[derive(Debug)]
pub struct TcpStream {
    fd: SharedFd,
    read_loss: LossFlag,
    write_loss: LossFlag,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in order, and returns the first
    /// connection made or the last error (`ConnectionRefused`, ...).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it completes, it closes the socket it was connecting (a
    /// connection the kernel made anyway is closed with it); nothing else changes.
    ///
    /// `addr` may be a `SocketAddr`, an `(ip, port)` pair, `"host:port"` or `(host, port)`; host
    /// names are resolved without blocking the core (see [`lookup_host`](super::lookup_host)).
    ///
    /// ```
    /// use coring::net::{TcpListener, TcpStream};
    ///
    /// coring::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let port = listener.local_addr()?.port();
    ///     // "localhost" may resolve to ::1 first; nobody listens there, so 127.0.0.1 is tried.
    ///     let stream = TcpStream::connect(("localhost", port)).await?;
    ///     assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in resolve(addr).await? {
            match Self::connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(super::no_addresses))
    }

    /// Like [`connect`](TcpStream::connect), giving up with `TimedOut` after `timeout` (for the
    /// resolution and all attempts together).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`connect`](TcpStream::connect).
    pub async fn connect_timeout<A: ToSocketAddrs>(
        addr: A,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        crate::time::timeout(timeout, Self::connect(addr))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("coring: connecting timed out after {timeout:?}"),
                ))
            })
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        // socket2 creates the socket with SOCK_CLOEXEC on Linux.
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        let stream = TcpStream::from_fd(socket.into());
        op::connect::connect(&stream.fd, SockAddr::from(addr)).await?;
        Ok(stream)
    }

    /// Wraps a connection made with the standard library (it is switched to blocking mode, which
    /// io_uring handles without blocking the thread).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream::from_fd(super::blocking_fd(stream)?))
    }

    /// Turns the stream back into a standard library one, to hand the connection to another
    /// worker (a `std::net::TcpStream` is `Send`), a thread or another runtime. The socket stays
    /// in blocking mode, as coring keeps it; a readiness-based runtime needs
    /// `set_nonblocking(true)` first. `into_std().await?.into_raw_fd()` gives the bare fd.
    ///
    /// It is `async` because a read or write cancelled just before (a read timeout) may still be
    /// in the kernel: it first waits for the runtime to reap it, so the new owner's first read
    /// gets the next byte the peer sent, never a later one. For the same reason `TcpStream`
    /// does not implement `IntoRawFd`, which can neither wait nor fail.
    ///
    /// # Errors
    ///
    /// When the stream cannot be handed over whole, it is closed and the error says why: an
    /// earlier cancelled read or write had already moved bytes (the byte stream has a gap, see
    /// "Cancellation" on the type), only another runtime that is not running can finish such an
    /// operation, or something else still holds the socket: a live
    /// [`RecvStream`](crate::net::RecvStream) made by `recv_stream` (it keeps the socket on its
    /// own and receives on; drop it first), or a dropped `shutdown` or zero-copy send.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the stream, closing the connection.
    ///
    /// # Handing a connection to another worker
    ///
    /// Accept on one worker, serve on another: the std stream crosses threads inside the
    /// closure of [`WorkerHandle::spawn_with`](crate::runtime::WorkerHandle::spawn_with), and
    /// [`from_std`](TcpStream::from_std) wraps it on the worker that serves it.
    ///
    /// ```
    /// use coring::net::{TcpListener, TcpStream};
    ///
    /// let runtime = coring::Builder::new().workers(2).build_multi()?;
    /// let served_on = runtime.block_on_with(|| async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (accepted, _) = listener.accept().await?;
    ///
    ///     let std_stream = accepted.into_std().await?;
    ///     let other = &coring::runtime::workers()[1];
    ///     let served = other.spawn_with(move || async move {
    ///         let stream = TcpStream::from_std(std_stream)?;
    ///         stream.write_all(b"served".to_vec()).await.0?;
    ///         std::io::Result::Ok(coring::runtime::current_worker())
    ///     });
    ///
    ///     let (n, buf) = client.read(Vec::with_capacity(16)).await;
    ///     assert_eq!(&buf[..n?], b"served");
    ///     served.await.expect("the worker ran it")
    /// })?;
    /// assert_eq!(served_on, Some(1));
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.into_owned_fd().await.map(std::net::TcpStream::from)
    }

    /// The socket's fd, once no cancelled operation on it is in flight (see `into_std`).
    pub(crate) async fn into_owned_fd(self) -> io::Result<OwnedFd> {
        self.read_loss.ready("read").await?;
        self.write_loss.ready("write").await?;
        self.fd.try_unwrap().map_err(|_still_in_use| {
            io::Error::new(
                io::ErrorKind::ResourceBusy,
                "coring: something else still holds this stream's socket: a live RecvStream \
                 from recv_stream (drop it first), or a dropped shutdown or zero-copy send the \
                 kernel has not finished; the stream cannot be handed over until it lets go",
            )
        })
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> TcpStream {
        TcpStream {
            fd: SharedFd::new(fd),
            read_loss: LossFlag::default(),
            write_loss: LossFlag::default(),
        }
    }

    /// The socket, for ops defined elsewhere in the crate (registered-buffer and zero-copy I/O).
    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }

    /// The reading direction's loss flag (see "Cancellation" above).
    pub(crate) fn read_loss(&self) -> &LossFlag {
        &self.read_loss
    }

    /// The writing direction's loss flag.
    pub(crate) fn write_loss(&self) -> &LossFlag {
        &self.write_loss
    }

    /// Reads into `buf` from its start, up to its capacity, and returns the number of bytes read
    /// with the buffer (whose length now covers them). `Ok(0)` is the end of the stream: the peer
    /// shut down its writing side. A buffer with no room (`bytes_total() == 0`) gives `Ok(0)` at
    /// once, without waiting for data.
    ///
    /// A `Vec`'s length only grows to cover what was read, never shrinks: when reusing a `Vec`
    /// for reads, `clear()` it first (or use the returned count), or stale bytes past `n` remain.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe once bytes moved: dropped while waiting for data that has not arrived
    /// (the usual read timeout), it loses nothing; dropped after the kernel had taken bytes,
    /// they cannot be handed back, and every later read on the stream fails saying so (see
    /// "Cancellation" on the type), never silently skipping them.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        let empty = self.read_loss.drained();
        let recv = |buf| Ok(op::recv::recv(&self.fd, buf, Leftover::Stream).waiting_first(empty));
        let pushed_at = parks::count();
        let (result, buf) = self.read_loss.guard("read", buf, recv).await;
        // Less than the room: the socket is probably empty, so the next read waits for data
        // before trying (one failed `recvmsg` less per message, see `op/recv.rs`), unless the
        // bytes of this one were already there, in a loop too busy to wait: then the peer keeps
        // ahead of this loop, and the next read's bytes will probably be waiting too.
        let room = buf.bytes_total().min(u32::MAX as usize);
        let short = matches!(result, Ok(n) if n > 0 && n < room);
        self.read_loss
            .set_drained(short && !parks::answered_at_once(pushed_at));
        (result, buf)
    }

    /// Reads into several buffers in order (scatter), each from its start up to its capacity.
    /// At most the first 1024 buffers (`IOV_MAX`) take part in one call; if they have no room
    /// at all, the result is `Ok(0)` at once.
    ///
    /// ```
    /// use coring::net::{TcpListener, TcpStream};
    ///
    /// coring::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (server, _) = listener.accept().await?;
    ///
    ///     let (n, _) = client.writev(vec![b"head ".to_vec(), b"body".to_vec()]).await;
    ///     assert_eq!(n?, 9);
    ///     let (n, bufs) = server.readv(vec![Vec::with_capacity(5), Vec::with_capacity(64)]).await;
    ///     assert_eq!(n?, 9);
    ///     assert_eq!((&bufs[0][..], &bufs[1][..]), (&b"head "[..], &b"body"[..]));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`read`](TcpStream::read).
    pub async fn readv<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        if no_room(&bufs) {
            return (Ok(0), bufs);
        }
        let recv = |bufs| Ok(op::recv_msg::recv_msg(&self.fd, bufs, Leftover::Stream));
        let (result, bufs) = self.read_loss.guard("read", bufs, recv).await;
        (result.map(|(n, _)| n), bufs)
    }

    /// Writes some of `buf`'s initialized bytes and returns how many were written, with the
    /// buffer. Writing to a connection the peer closed is a `BrokenPipe` error, never `SIGPIPE`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe once bytes moved: dropped before it completes, some of the buffer may
    /// have been sent; if any was, every later write on the stream fails saying so (see
    /// "Cancellation" on the type), so the peer never gets a silent gap.
    pub fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = BufResult<usize, B>> + use<'_, B> {
        // The guarded op's own future, not an `async fn` around it, which would keep a second
        // copy of `buf` in every pending write (see `net/future_sizes.rs`).
        let send = |buf| Ok(op::send::send(&self.fd, buf));
        self.write_loss.guard("write", buf, send)
    }

    /// Writes all of `buf`'s initialized bytes, in as many writes as it takes. A write that
    /// accepts nothing is a `WriteZero` error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped after some bytes went out but not all, it leaves the peer with a
    /// cut-off message; the stream remembers it as for a dropped [`write`](TcpStream::write),
    /// and later writes fail.
    pub fn write_all<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = BufResult<(), B>> + use<'_, B> {
        // Not an `async fn` around the loop: that layer would keep a second copy of `buf` (and
        // the mark) in every pending write_all, and so in every task awaiting one.
        let cut_short = CutShortMark::new(self.write_loss.clone());
        write_all(self, cut_short, buf)
    }

    /// Writes the initialized bytes of several buffers, in order (gather), and returns how many
    /// were written in all; like [`write`](TcpStream::write), it may write only some. At most
    /// the first 1024 buffers (`IOV_MAX`) are written by one call, as with `writev(2)`.
    ///
    /// # Cancel safety
    ///
    /// As [`write`](TcpStream::write).
    pub fn writev<B: IoBuf>(
        &self,
        bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> + use<'_, B> {
        let send = |bufs| Ok(op::send_msg::send_msg(&self.fd, bufs, None));
        self.write_loss.guard("write", bufs, send)
    }

    /// Shuts down the reading side, the writing side (the peer reads end of stream once it has
    /// read everything sent), or both.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it moves no data; dropped before it completes, the shutdown may or may not
    /// have happened.
    pub fn shutdown(&self, how: Shutdown) -> impl Future<Output = io::Result<()>> + use<'_> {
        op::fd_only::shutdown(&self.fd, how)
    }

    /// Sets `TCP_NODELAY`: send small writes at once rather than waiting to coalesce them.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        SockRef::from(self).set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        SockRef::from(self).tcp_nodelay()
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes closing the socket reset the connection
    /// (the peer sees `ConnectionReset`) instead of shutting it down cleanly.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(self).set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        SockRef::from(self).linger()
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(SockRef::from(self).peer_addr()?)
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(SockRef::from(self).local_addr()?)
    }

    /// Splits the stream into a reading half and a writing half that can move to different
    /// tasks. The socket closes when both are dropped; dropping the writing half shuts down the
    /// writing side. [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        super::split::split(Rc::new(self))
    }
}

/// For [`TcpStream::write_all`], which takes `&self`: the write-all loop's writes.
impl WriteSome for &TcpStream {
    fn write_some<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        TcpStream::write(self, buf)
    }
}

socket_fd_impls!(TcpStream => fd);

/// Whether a vectored read into `bufs` could take nothing (the buffers one call uses have no
/// room): a zero-length receive would wait for data it cannot take.
fn no_room<B: IoBuf>(bufs: &[B]) -> bool {
    bufs.iter()
        .take(op::IOV_MAX)
        .all(|buf| buf.bytes_total() == 0)
}

#[cfg(test)]
mod tests {
    use super::TcpStream;
    use crate::runtime::RingMode;
    use std::io::Write as _;

    /// A short read whose bytes were already there, in a loop with work pending (a saturated
    /// server), lets the next read try at once; a short read that waited for its bytes makes the
    /// next one poll first (`driver/uring/parks.rs`).
    #[test]
    fn the_next_read_polls_first_only_after_a_read_that_waited() {
        let runtime = crate::runtime::io_uring_runtime();
        if runtime.ring_mode() != RingMode::DeferTaskrun {
            eprintln!("skipped: the hint is measured on SINGLE_ISSUER|DEFER_TASKRUN rings");
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pair = || {
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let server = TcpStream::from_std(listener.accept().unwrap().0).unwrap();
            (client, std::rc::Rc::new(server))
        };
        runtime.block_on(async {
            let (mut waits_client, waits) = pair();
            let (mut ready_client, ready) = pair();
            // A read that waits: submitted now, its bytes come in a later turn.
            let reader = waits.clone();
            let waiting = crate::spawn(async move { reader.read(vec![0; 4096]).await.0 });
            for _ in 0..3 {
                crate::task::yield_now().await;
            }
            // Its bytes arrive (queueing task work on the ring, so the next wait cannot sleep),
            // and the other socket's bytes are there before its read is submitted.
            waits_client.write_all(&[1; 100]).unwrap();
            ready_client.write_all(&[2; 100]).unwrap();
            assert_eq!(ready.read(vec![0; 4096]).await.0.unwrap(), 100);
            assert_eq!(waiting.await.unwrap().unwrap(), 100);
            assert!(
                !ready.read_loss().drained(),
                "a read answered at once in a busy loop: the next read tries at once"
            );
            assert!(
                waits.read_loss().drained(),
                "a short read that waited: the next read polls first"
            );
        });
    }
}
