//! [`BufWriter`]: gathers small writes in one internal buffer and sends them on flush.
//!
//! Sending the buffer lends the whole `Vec` to the inner writer as a slice of its unsent part and
//! takes it back with the result, so the written prefix is known after every write: on an error
//! the unsent tail stays buffered, in order, for a later flush.
//!
//! Over a writer that offers an [`OwnedSend`](crate::net::OwnedSend) (coring's streams) the
//! buffer goes out in a send that owns it; a flush future dropped mid-send leaves that send in
//! flight, kept by the writer (`parked.rs`), and the next call takes its outcome first. Over
//! other writers the buffer is lent to their `write`, whose future goes with the flush's: how
//! much was sent is then unknown, so the writer is marked poisoned and every later call fails.
//! Either way, if the buffer went out only in part before the writer gave it up (a poisoned
//! flush, or a parked send given up by `into_inner` or a drop), the inner writer's
//! [`cut_short_mark`](AsyncWriteRent::cut_short_mark) is set, as by a cut-short `write_all`: a
//! `TcpStream` taken back then fails its writes instead of running the cut-off bytes into the
//! next message.
//!
//! Reading through a `BufWriter` sends the buffer first (a lazy flush, once per batch of
//! answers), so a reader over it never waits for a peer that waits for buffered bytes.

use super::{AsyncReadRent, AsyncWriteRent};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use parked::{Parked, Parking};
use std::{fmt, io};

mod parked;

const DEFAULT_CAPACITY: usize = 8 * 1024;

/// Gathers small writes into an internal buffer and sends them to the inner writer in large
/// ones.
///
/// A write that would overflow the buffer sends what is buffered first; a write at least as
/// large as the buffer then goes straight to the inner writer, without a copy. Bytes reach the
/// inner writer in the order they were written.
///
/// **Call [`flush`](AsyncWriteRent::flush) (or [`shutdown`](AsyncWriteRent::shutdown)) before
/// dropping a `BufWriter`.** Sending takes an asynchronous write, which `Drop` cannot do, so
/// bytes still buffered when it is dropped (or turned back [`into_inner`](Self::into_inner)) are
/// lost, and so are those of a send still in flight that a dropped call left (see "Cancel
/// safety").
///
/// # Answering a peer: one send per batch
///
/// A `BufWriter` over a stream is also a reader of that stream, and **a read sends what is
/// buffered first**: whoever reads may wait for the peer, and the peer may be waiting for those
/// bytes. So a server that reads requests through `BufReader<BufWriter<S>>` (what tokio
/// calls a `BufStream`) writes each response without flushing: the responses to
/// every request already received gather in the buffer, and go out in one send when the reader
/// runs out of input, just before it waits for more. On the ring path the reader asks through
/// [`flush_before_wait`](AsyncReadRent::flush_before_wait), and only when no input is at
/// hand, so a client that pipelines its requests gets one send per batch, not one per response.
///
/// What this does not cover: output written while the task waits on something else than this
/// stream (a timer, a channel, another socket) stays buffered until the next read or an
/// explicit `flush`; a stream split in halves, with the `BufWriter` on the writing half, whose
/// reader cannot see it (flush before reading, as with tokio); and the end of the
/// conversation, which needs a `flush` or `shutdown` unless a read saw the end of the stream.
///
/// A server may race such a read against other events, as the tokio chat example races its
/// reads against a channel of messages to push (`select!`): if the read loses while it is
/// sending the buffered answers, the send goes on, kept by the writer, and the next call
/// takes its outcome (see "Cancel safety").
///
/// ```no_run
/// use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
///
/// async fn serve(stream: coring::net::TcpStream) -> std::io::Result<()> {
///     let mut conn = BufReader::new(BufWriter::new(stream));
///     while let Some(request) = conn.next_line(8 * 1024).await? {
///         let response = request.to_ascii_uppercase();
///         conn.write_all(response).await.0?; // buffered: sent before the next wait
///     }
///     conn.shutdown().await // sends what the last batch left
/// }
/// ```
///
/// # Cancel safety
///
/// Over coring's streams (`TcpStream`, `UnixStream`, their owned writing halves, or `&mut` to
/// them: writers that offer an [`OwnedSend`](crate::net::OwnedSend)), `write`, `flush`,
/// `shutdown` and a read that sends the buffer first are cancel safe as far as the buffer goes:
/// dropped while the buffer is being sent, the send is not cancelled but kept in flight by the
/// writer, and **the next call** (`write`, `flush`, `shutdown`, a read, a
/// [`BufReader`](super::BufReader) call over it) **first takes its outcome**: the bytes it sent
/// leave the buffer, the rest stays buffered ahead of anything written later, so no byte is
/// lost, repeated or reordered. If that send failed, its error is the next call's result, once;
/// the unsent bytes stay buffered, as after any failed flush, and a later `flush` tries them
/// again (on a broken connection it fails again, with the socket's own error).
/// [`into_inner`](Self::into_inner) cannot wait: it takes the outcome only if the send has
/// finished already, and otherwise gives the send up (see there). Carried into another runtime
/// (on the same thread) with such a send in flight, the writer's calls fail at once, saying so,
/// while only the first runtime can finish the send and is not running; once it runs again or
/// is dropped (which cancels the send: its bytes stay buffered), they go on. Two cases keep
/// the inner writer's own cancel safety: a `write` at least as large as the buffer, which goes
/// straight to the inner writer, and the inner read of a read that had sent first.
///
/// Over other writers, `write`, `flush` and `shutdown` are not cancel safe once they send:
/// dropped while the buffer is lent to the inner writer's `write`, how much of it went is
/// unknown, and every later call fails saying so. A `write` that only buffers finishes at once,
/// and so does any call over an in-memory writer such as `Vec<u8>`.
///
/// ```
/// use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
///
/// coring::block_on(async {
///     let mut writer = BufWriter::new(Vec::new());
///     for word in ["one ", "two ", "three"] {
///         writer.write_all(word).await.0?;
///     }
///     assert!(writer.get_ref().is_empty(), "still buffered");
///     writer.flush().await?;
///     assert_eq!(writer.get_ref(), b"one two three");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct BufWriter<W> {
    inner: W,
    /// Bytes written to this writer and not yet sent, in order. Empty (with no capacity) while
    /// a parked send holds the buffer.
    buf: Vec<u8>,
    /// The capacity asked for, to reallocate after a dropped flush took the buffer.
    capacity: usize,
    /// A send that a dropped call left in flight, holding the buffer; every call takes its
    /// outcome first. Boxed: one pointer in every writer, an allocation only when parked.
    parked: Option<Box<Parked>>,
    /// Set while the buffer is lent to the inner writer's `write` (a writer that offers no
    /// `OwnedSend`); stays set if that write was dropped.
    poisoned: bool,
}

impl<W> BufWriter<W> {
    /// Wraps `inner` with an 8 KiB buffer.
    pub fn new(inner: W) -> Self {
        Self::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// Wraps `inner` with a buffer of `capacity` bytes.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    #[track_caller]
    pub fn with_capacity(capacity: usize, inner: W) -> Self {
        assert!(
            capacity > 0,
            "BufWriter needs a capacity of at least one byte"
        );
        BufWriter {
            inner,
            buf: Vec::with_capacity(capacity),
            capacity,
            parked: None,
            poisoned: false,
        }
    }

    /// The capacity of the internal buffer, as asked for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes written to this writer and not yet sent to the inner one; empty while a send
    /// that a dropped call left is in flight (it holds them until the next call takes its
    /// outcome).
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably. Writing to it directly puts bytes ahead of the buffered ones
    /// (and, while a send that a dropped call left is in flight, beside that send's: call
    /// `flush` first).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Gives the inner writer back. **Buffered bytes are dropped**: flush first.
    ///
    /// A send that a dropped call left in flight is taken if it has finished (its completion
    /// reaped), and otherwise given up: cancelled, its bytes lost with the buffer. Then, if the
    /// buffer went out only in part, the inner writer's
    /// [`cut_short_mark`](AsyncWriteRent::cut_short_mark) is set (a `TcpStream` fails its later
    /// writes rather than run the cut-off bytes into the next message); and if the cancel came
    /// too late and the kernel sent the bytes anyway, the stream records that itself and fails
    /// its later writes too (see `TcpStream`'s "Cancellation").
    pub fn into_inner(mut self) -> W {
        if let Some(mut parked) = self.parked.take() {
            if let Some((result, slice)) = parked.send.try_finish() {
                let sent = slice.begin() + result.unwrap_or(0);
                parked.mark.arm(sent > 0 && sent < slice.end());
            }
            // Dropped here: an unfinished send is cancelled, then the mark set if armed.
        }
        self.inner
    }

    /// Fails if a dropped write left the buffer's fate unknown (not a parked send: its fate is
    /// known once it completes, see [`settle`](Self::settle)).
    fn recover(&mut self) -> io::Result<()> {
        if self.poisoned {
            return Err(io::Error::other(
                "BufWriter: a dropped flush left unknown how much of the buffer was sent",
            ));
        }
        Ok(())
    }
}

impl<W: AsyncWriteRent> BufWriter<W> {
    /// Sends the buffered bytes, if any, before a read (see "Answering a peer"); fails on a
    /// poisoned writer, whose output is already broken.
    async fn send_held(&mut self) -> io::Result<()> {
        if self.buf.is_empty() && !self.poisoned && self.parked.is_none() {
            return Ok(());
        }
        self.recover()?;
        self.send_buffer().await
    }

    /// Takes the outcome of a send that a dropped call left in flight, waiting for it if need
    /// be: the bytes it sent leave the buffer and the rest stays buffered, in order; its error
    /// is the caller's result. Dropped while waiting, it leaves the send parked.
    async fn settle(&mut self) -> io::Result<()> {
        let Some(parked) = &mut self.parked else {
            return Ok(());
        };
        let (result, slice) = if parked.send.started_elsewhere() {
            // Only that runtime can finish it: take the outcome if it is in (reaped there, or
            // that runtime was dropped, which finishes every op), as waiting here would hang.
            parked.send.try_finish().ok_or_else(elsewhere)?
        } else {
            (&mut parked.send).await
        };
        if let Some(mut parked) = self.parked.take() {
            // The outcome is known: nothing is given up.
            parked.mark.arm(false);
        }
        let (begin, end) = (slice.begin(), slice.end());
        self.buf = slice.into_inner();
        let (sent, outcome) = match result {
            Ok(0) if begin < end => (begin, Err(write_zero())),
            Ok(n) => (begin + n, Ok(())),
            // Cancelled with nothing sent (its runtime was dropped): the bytes are still here.
            Err(err) if retry(&err) => (begin, Ok(())),
            Err(err) => (begin, Err(err)),
        };
        self.buf.drain(..sent.min(end));
        outcome
    }

    /// Sends the whole buffer to the inner writer, in as many writes as it takes, after taking
    /// the outcome of a parked send. On an error the unsent bytes stay buffered.
    async fn send_buffer(&mut self) -> io::Result<()> {
        self.settle().await?;
        let total = self.buf.len();
        let mut sent = 0;
        let mut outcome = Ok(());
        // Armed only across an await that follows a partial write, as in `write_all`: dropped
        // then, the inner writer carries a cut-off buffer (errors keep the tail buffered). A
        // send that is parked takes the armed mark along, for the case it is given up.
        let mut cut_short = self.inner.cut_short_mark();
        while sent < total {
            let buf = std::mem::take(&mut self.buf);
            let (result, slice) = match self.inner.send_owned(buf.slice(sent..total)) {
                Ok(send) => Parking::new(&mut self.parked, send, &mut cut_short).await,
                Err(slice) => {
                    self.poisoned = true;
                    let out = self.inner.write(slice).await;
                    self.poisoned = false;
                    out
                }
            };
            self.buf = slice.into_inner();
            match result {
                Ok(0) => {
                    outcome = Err(write_zero());
                    break;
                }
                Ok(n) => {
                    sent += n;
                    cut_short.arm(sent < total);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        cut_short.arm(false);
        self.buf.drain(..sent.min(total));
        outcome
    }
}

/// A parked send of a runtime that is not running (the writer was carried to another one).
fn elsewhere() -> io::Error {
    io::Error::other(
        "BufWriter: a send that a dropped call left in flight belongs to another runtime, which \
         is not running, and only that runtime can finish it; run or drop that runtime first, \
         then call again (or keep the writer in one runtime)",
    )
}

/// A parked send's error that sent nothing and means nothing to the caller: interrupted, or
/// cancelled by the shutdown of the runtime it was started on. io_uring cancels it in the
/// kernel (`ECANCELED`); the readiness backend never had it in the kernel, so its next attempt
/// finds that runtime's poller shut down and fails before sending (a driver error, listed in
/// `driver/mod.rs`).
fn retry(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
        || err.raw_os_error() == Some(libc::ECANCELED)
        || crate::driver::is_shutting_down(err)
}

fn write_zero() -> io::Error {
    io::Error::new(
        io::ErrorKind::WriteZero,
        "the inner writer accepted no bytes of the buffer",
    )
}

impl<W: AsyncWriteRent> AsyncWriteRent for BufWriter<W> {
    /// Buffers `buf`'s initialized bytes (sending the buffer first if they would not fit), or
    /// writes them straight to the inner writer if they are at least the buffer's capacity.
    ///
    /// # Cancel safety
    ///
    /// See the type's docs.
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        if let Err(err) = self.recover() {
            return (Err(err), buf);
        }
        if self.parked.is_some() {
            if let Err(err) = self.settle().await {
                return (Err(err), buf);
            }
        }
        let len = buf.bytes_init();
        if self.buf.len() + len > self.capacity {
            if let Err(err) = self.send_buffer().await {
                return (Err(err), buf);
            }
        }
        if len >= self.capacity {
            return self.inner.write(buf).await;
        }
        let all = buf.slice(..);
        self.buf.extend_from_slice(&all);
        (Ok(len), all.into_inner())
    }

    /// Sends every buffered byte, then flushes the inner writer.
    ///
    /// # Cancel safety
    ///
    /// See the type's docs.
    async fn flush(&mut self) -> io::Result<()> {
        self.recover()?;
        self.send_buffer().await?;
        self.inner.flush().await
    }

    /// Sends every buffered byte, then shuts the inner writer down.
    ///
    /// # Cancel safety
    ///
    /// See the type's docs.
    async fn shutdown(&mut self) -> io::Result<()> {
        self.recover()?;
        self.send_buffer().await?;
        self.inner.shutdown().await
    }

    /// The inner writer's: a message cut short in the buffer is cut short on the stream too.
    fn cut_short_mark(&self) -> super::CutShortMark {
        self.inner.cut_short_mark()
    }
}

/// Reads send the buffered bytes first, then go to the inner object: whoever reads from the
/// stream may wait for the peer, and the peer may be waiting for those bytes. See the type's
/// docs ("Answering a peer").
impl<W: AsyncReadRent + AsyncWriteRent> AsyncReadRent for BufWriter<W> {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        if let Err(err) = self.send_held().await {
            return (Err(err), buf);
        }
        self.inner.read(buf).await
    }

    /// The inner object's: the `BufWriter` owns it, so a [`BufReader`](super::BufReader) over
    /// a `BufWriter<TcpStream>` reads through the runtime's read pool.
    fn pooled_receive(&self) -> Option<crate::net::RecvStream> {
        self.inner.pooled_receive()
    }

    /// Sends the buffered bytes, then asks the inner object to send what it holds.
    async fn flush_before_wait(&mut self) -> io::Result<()> {
        self.send_held().await?;
        self.inner.flush_before_wait().await
    }
}

impl<W: fmt::Debug> fmt::Debug for BufWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufWriter")
            .field("inner", &self.inner)
            .field("buffered", &self.buf.len())
            .field("capacity", &self.capacity)
            .field("sending", &self.parked.is_some())
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

#[cfg(test)]
mod tests;
