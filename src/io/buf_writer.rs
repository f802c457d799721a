//! [`BufWriter`]: gathers small writes in one internal buffer and sends them on flush.
//!
//! Sending the buffer lends the whole `Vec` to the inner writer as a slice of its unsent part and
//! takes it back with the result, so the written prefix is known after every write: on an error
//! the unsent tail stays buffered, in order, for a later flush. If a flush future is dropped
//! while the buffer is lent, how much of it was sent is unknown, so the writer is marked
//! poisoned and every later call fails. If it is dropped after part of the buffer went out, the
//! inner writer's [`cut_short_mark`](AsyncWriteRent::cut_short_mark) is set too, as by a cut-short
//! `write_all`: a `TcpStream` taken back with `into_inner` or `get_mut` then fails its writes
//! instead of running the cut-off bytes into the next message.
//!
//! Reading through a `BufWriter` sends the buffer first (a lazy flush, once per batch of
//! answers), so a reader over it never waits for a peer that waits for buffered bytes.

use super::{AsyncReadRent, AsyncWriteRent};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use std::{fmt, io};

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
/// lost.
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
/// `write`, `flush` and `shutdown` are not cancel safe once they send: dropped while the buffer
/// is being sent to the inner writer, how much of it went is unknown, and every later call fails
/// saying so. A `write` that only buffers finishes at once. The same holds for a read that is
/// sending the buffer first (say, a read under a `timeout` while the peer takes no bytes).
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
    /// Bytes written to this writer and not yet sent, in order.
    buf: Vec<u8>,
    /// The capacity asked for, to reallocate after a dropped flush took the buffer.
    capacity: usize,
    /// Set while the buffer is lent to a write; stays set if that write was dropped.
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
            poisoned: false,
        }
    }

    /// The capacity of the internal buffer, as asked for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes written to this writer and not yet sent to the inner one.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably. Writing to it directly puts bytes ahead of the buffered ones.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Gives the inner writer back. **Buffered bytes are dropped**: flush first.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Fails if a dropped write left the buffer's fate unknown.
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
        if self.buf.is_empty() && !self.poisoned {
            return Ok(());
        }
        self.recover()?;
        self.send_buffer().await
    }

    /// Sends the whole buffer to the inner writer, in as many writes as it takes. On an error
    /// the unsent bytes stay buffered.
    async fn send_buffer(&mut self) -> io::Result<()> {
        let total = self.buf.len();
        let mut sent = 0;
        let mut outcome = Ok(());
        // Armed only across an await that follows a partial write, as in `write_all`: dropped
        // then, the inner writer carries a cut-off buffer (errors keep the tail buffered).
        let mut cut_short = self.inner.cut_short_mark();
        while sent < total {
            let buf = std::mem::take(&mut self.buf);
            self.poisoned = true;
            let (result, slice) = self.inner.write(buf.slice(sent..total)).await;
            self.poisoned = false;
            self.buf = slice.into_inner();
            match result {
                Ok(0) => {
                    outcome = Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the inner writer accepted no bytes of the buffer",
                    ));
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
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::BufWriter;
    use crate::io::test_support::ChunkedWriter;
    use crate::io::{AsyncWriteRent, AsyncWriteRentExt};
    use std::io;

    #[test]
    fn small_writes_wait_for_flush_and_arrive_in_order() {
        crate::block_on(async {
            let mut writer = BufWriter::with_capacity(16, ChunkedWriter::new(64));
            for part in ["ab", "cd", "ef"] {
                let (n, _) = writer.write(part).await;
                assert_eq!(n.unwrap(), 2);
            }
            assert!(
                writer.get_ref().writes.is_empty(),
                "nothing sent before flush"
            );
            assert_eq!(writer.buffer(), b"abcdef");
            writer.flush().await.unwrap();
            let inner = writer.get_ref();
            assert_eq!(
                (&inner.data[..], &inner.writes[..]),
                (&b"abcdef"[..], &[6][..])
            );
            assert_eq!(inner.flushes, 1);
            assert!(writer.buffer().is_empty());
        });
    }

    #[test]
    fn overflow_sends_the_buffer_first_and_large_writes_bypass_it() {
        crate::block_on(async {
            let mut writer = BufWriter::with_capacity(8, ChunkedWriter::new(64));
            writer.write_all("12345").await.0.unwrap();
            // 5 + 4 > 8: the five buffered bytes go first, then these four are buffered.
            writer.write_all("6789").await.0.unwrap();
            assert_eq!(writer.get_ref().writes, [5]);
            // As large as the buffer: sent first what is buffered, then this one directly.
            writer.write_all("ABCDEFGHIJ").await.0.unwrap();
            writer.write_all("z").await.0.unwrap();
            writer.flush().await.unwrap();
            let inner = writer.into_inner();
            assert_eq!(inner.data, b"123456789ABCDEFGHIJz");
            assert_eq!(inner.writes, [5, 4, 10, 1]);
        });
    }

    #[test]
    fn flush_loops_over_short_inner_writes() {
        crate::block_on(async {
            let mut writer = BufWriter::with_capacity(64, ChunkedWriter::new(3));
            writer.write_all("hello, world").await.0.unwrap();
            writer.flush().await.unwrap();
            assert_eq!(writer.get_ref().data, b"hello, world");
            assert_eq!(writer.get_ref().writes, [3, 3, 3, 3]);
        });
    }

    #[test]
    fn a_failed_flush_keeps_the_unsent_tail() {
        crate::block_on(async {
            let mut inner = ChunkedWriter::new(4);
            inner.accept_limit = Some(6);
            let mut writer = BufWriter::with_capacity(64, inner);
            writer.write_all("0123456789").await.0.unwrap();
            let err = writer.flush().await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
            assert_eq!(writer.get_ref().data, b"012345");
            assert_eq!(
                writer.buffer(),
                b"6789",
                "the unsent bytes are kept, in order"
            );
            writer.get_mut().accept_limit = None;
            writer.flush().await.unwrap();
            assert_eq!(writer.get_ref().data, b"0123456789");
        });
    }

    #[test]
    fn shutdown_flushes_first() {
        crate::block_on(async {
            let mut writer = BufWriter::new(ChunkedWriter::new(1024));
            writer.write_all("bye").await.0.unwrap();
            writer.shutdown().await.unwrap();
            let inner = writer.into_inner();
            assert_eq!(inner.data, b"bye");
            assert!(inner.shut_down);
        });
    }

    #[test]
    fn into_inner_drops_unflushed_bytes() {
        crate::block_on(async {
            let mut writer = BufWriter::new(Vec::new());
            writer.write_all("lost").await.0.unwrap();
            assert!(writer.into_inner().is_empty());
        });
    }

    #[test]
    fn a_reader_over_it_sends_the_batch_of_answers_once_before_it_waits() {
        use crate::io::test_support::{ChunkedReader, Conversation};
        use crate::io::BufReader;
        crate::block_on(async {
            let peer = Conversation {
                reader: ChunkedReader::new("one\ntwo\nthree\n", &[64]),
                writer: ChunkedWriter::new(1024),
                writes_before_read: Vec::new(),
            };
            let mut conn = BufReader::new(BufWriter::new(peer));
            while let Some(line) = conn.next_line(64).await.unwrap() {
                let answer = line.to_ascii_uppercase();
                conn.write_all(answer).await.0.unwrap();
            }
            let peer = conn.into_inner().into_inner();
            assert_eq!(peer.writer.data, b"ONE\nTWO\nTHREE\n");
            assert_eq!(peer.writer.writes, [14], "the three answers in one write");
            assert_eq!(
                peer.writes_before_read,
                [0, 1],
                "the answers went out before the reader waited for the peer again"
            );
        });
    }

    #[test]
    fn a_dropped_flush_poisons_the_writer() {
        use std::future::Future;
        use std::pin::pin;
        use std::task::{Context, Poll, Waker};

        let mut writer = BufWriter::new(crate::io::test_support::StallingWriter);
        let mut cx = Context::from_waker(Waker::noop());
        let (n, _) = match pin!(writer.write("abc")).poll(&mut cx) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("a buffered write completes at once"),
        };
        assert_eq!(n.unwrap(), 3);
        {
            let flush = pin!(writer.flush());
            assert!(flush.poll(&mut cx).is_pending());
        }
        let again = pin!(writer.flush()).poll(&mut cx);
        assert!(matches!(again, Poll::Ready(Err(_))), "poisoned: {again:?}");
    }
}
