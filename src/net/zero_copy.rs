//! The zero-copy paths of a [`TcpStream`]: reads into registered buffers, a multishot receive
//! through a provided buffer ring, and zero-copy send.

use super::TcpStream;
use crate::buf::{BufResult, BufRing, IoBuf, IoBufMut, RingBuf};
use crate::op::recv_multi::RingReceiver;
use crate::op::{fixed, send};
use std::future::{poll_fn, Future};
use std::io;
use std::task::{Context, Poll};

impl TcpStream {
    /// Reads into a registered buffer ([`FixedBuf`](crate::buf::FixedBuf), or a slice of one)
    /// with `READ_FIXED`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the buffer is not from a [`FixedBufPool`](crate::buf::FixedBufPool),
    /// or is from the pool of another runtime (whose ring registered it; nothing is read);
    /// otherwise as [`TcpStream::read`] (a buffer with no room gives `Ok(0)` at once).
    ///
    /// # Cancel safety
    ///
    /// As [`TcpStream::read`].
    pub async fn read_fixed<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        if buf.bytes_total() == 0 && buf.fixed_index().is_some() {
            return (Ok(0), buf);
        }
        let read = |buf| fixed::read_fixed(self.shared_fd(), buf).map_err(refused);
        self.read_loss().guard("read", buf, read).await
    }

    /// Writes from a registered buffer (a send of its memory with `MSG_NOSIGNAL`); may write
    /// less than all of it. A peer that closed is a `BrokenPipe` error, never `SIGPIPE`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the buffer is not from a [`FixedBufPool`](crate::buf::FixedBufPool);
    /// otherwise as [`TcpStream::write`].
    ///
    /// # Cancel safety
    ///
    /// As [`TcpStream::write`].
    pub fn write_fixed<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = BufResult<usize, B>> + use<'_, B> {
        // The guarded op's own future (see `net/future_sizes.rs`), as for `send_zc`.
        let write = |buf| fixed::write_fixed(self.shared_fd(), buf).map_err(refused);
        self.write_loss().guard("write", buf, write)
    }

    /// Sends without copying the payload into the kernel (`SEND_ZC`); may send less than all of
    /// it. Resolves, and gives the buffer back, only once the kernel has let go of it (its
    /// notification completion); dropped early, the runtime keeps the buffer until then.
    ///
    /// When it pays off: large sends (tens of KiB and up) to a real NIC, where the copy is the
    /// cost. On loopback the kernel copies anyway and the extra completion makes it slower than
    /// [`TcpStream::write`].
    ///
    /// `SEND_ZC` came with Linux 6.0: on an older kernel (and on the epoll backend) this is a
    /// plain copying send, with the same result, and the buffer comes back at once.
    ///
    /// # Cancel safety
    ///
    /// As [`TcpStream::write`]: once the kernel has reported how much it sent, later writes
    /// go on (or fail, if bytes went out) without waiting for it to let go of the buffer. At
    /// runtime shutdown, a connection whose peer has not acknowledged a dropped zero-copy send
    /// within 200 ms is reset so that the buffer is released.
    pub fn send_zc<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = BufResult<usize, B>> + use<'_, B> {
        let send = |buf| Ok(send::send_zc(self.shared_fd(), buf));
        self.write_loss().guard("write", buf, send)
    }

    /// A stream of received data through `ring`: one multishot receive, the kernel picking a
    /// buffer from the ring only when bytes arrive. See [`RecvStream`].
    ///
    /// The ring must come from the runtime polling the stream: a ring created by another
    /// runtime makes the first item an `InvalidInput` error, and the stream ends.
    pub fn recv_stream(&self, ring: &BufRing) -> RecvStream {
        RecvStream {
            receiver: RingReceiver::new(self.shared_fd(), ring, self.read_loss()),
        }
    }

    /// A [`recv_stream`](Self::recv_stream) on the runtime's read pool: it holds at most its
    /// share of the pool, and moves to another ring of the pool when its own runs dry.
    pub(crate) fn pooled_recv_stream(&self) -> Option<RecvStream> {
        let ring = crate::buf::pool::current_ring()?;
        let share = crate::buf::pool::share(&ring);
        let mut stream = self.recv_stream(&ring).max_buffers(share);
        stream.receiver.set_from_pool();
        Some(stream)
    }
}

/// Why a fixed-buffer op refused a buffer that is not from a pool (handed back with it).
fn refused<B>(buf: B) -> (io::Error, B) {
    let err = io::Error::new(
        io::ErrorKind::InvalidInput,
        "coring: read_fixed/write_fixed need a buffer from a FixedBufPool",
    );
    (err, buf)
}

/// Received data as pooled buffers, from a multishot receive on a provided buffer ring.
///
/// Each item is a [`RingBuf`] holding the bytes of one arrival; drop it (or let it go out of
/// scope) to give the buffer back. When the ring runs dry the kernel ends the receive with
/// `ENOBUFS`; the stream waits for buffers to come back and re-arms, so the reader sees
/// back-pressure, never an error or a false end of file.
///
/// # Sharing a ring
///
/// Many streams may share one ring. So that one whose reader stops calling `next` (say, stuck
/// writing to a peer that does not read) cannot take the ring from the others, a stream holds
/// at most [`max_buffers`](RecvStream::max_buffers) of its buffers (a quarter of the ring by
/// default): its own chunks not yet dropped plus those received and not yet taken. Past that it
/// stops receiving, and the bytes wait in the socket, until its reader asks for more (a reader
/// that keeps every chunk then gets one buffer per call). One wake-up of the kernel may fill a
/// few buffers more before the stream stops.
///
/// # Cancel safety
///
/// `next` is cancel safe: dropping its future loses nothing, as received chunks wait in the
/// stream. Dropping the `RecvStream` itself gives back the chunks it had not handed out, and
/// bytes it had received that way are lost to the reader: like a dropped
/// [`read`](TcpStream::read), later reads on the stream then fail saying so.
///
/// ```no_run
/// # async fn demo(stream: coring::net::TcpStream) -> std::io::Result<()> {
/// let ring = coring::buf::BufRing::new(256, 4096)?;
/// let mut incoming = stream.recv_stream(&ring);
/// while let Some(chunk) = incoming.next().await {
///     let chunk = chunk?;
///     println!("{} bytes", chunk.len());
/// }
/// # Ok(()) }
/// ```
pub struct RecvStream {
    receiver: RingReceiver,
}

impl RecvStream {
    /// Sets how many of the ring's buffers this stream may hold at once (at least 1): chunks
    /// its reader has not dropped plus chunks received and not yet taken. See "Sharing a ring".
    pub fn max_buffers(mut self, max: usize) -> RecvStream {
        self.receiver.set_max_buffers(max);
        self
    }

    /// Whether the stream's ring belongs to the runtime running now (a `BufReader` carried
    /// into another runtime asks that runtime's pool for a new stream instead).
    pub(crate) fn serves_current_runtime(&self) -> bool {
        self.receiver.serves_current_runtime()
    }

    /// A chunk already received, without waiting: see `RingReceiver::try_next`.
    pub(crate) fn try_next(&mut self) -> Option<RingBuf> {
        self.receiver.try_next()
    }

    /// The next chunk of received bytes; `None` at end of file.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: chunks received meanwhile wait in the stream (see the type's docs).
    #[allow(clippy::should_implement_trait)] // an async `next`, as on a stream: no `Iterator`
    pub fn next(&mut self) -> impl Future<Output = Option<io::Result<RingBuf>>> + use<'_> {
        // `poll_fn`'s own future: an `async fn` around it would keep a second `&mut self`.
        poll_fn(|cx| self.poll_next(cx))
    }

    /// Polls for the next chunk.
    ///
    /// # Cancel safety
    ///
    /// As [`next`](RecvStream::next).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<RingBuf>>> {
        self.receiver.poll_next(cx)
    }
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream")
            .field("receiver", &self.receiver)
            .finish()
    }
}
