//! The ring path of [`BufReader`]: reading through the runtime's read pool.
//!
//! When the inner reader offers a [`pooled_receive`](AsyncReadRent::pooled_receive) (a coring
//! socket on a runtime whose pool works), the reader keeps no buffer of its own. One multishot
//! receive stays armed; the kernel picks a pool buffer only when bytes arrive, and the reader
//! serves them straight from that buffer (the *chunk*). A chunk goes back to the ring as soon as
//! it is consumed, at the latest when the next call starts, so a reader waiting for data holds
//! no buffer.
//!
//! A line that does not end in its chunk is gathered in the reader's own `buf` (the side
//! buffer, at most `max` bytes), which is freed again before the reader waits for more data.
//! Bytes in the side buffer or the chunk belong to the reader alone: dropping a call while it
//! waits for the next chunk loses nothing (the receive keeps arrivals until they are taken).
//!
//! Before waiting for a chunk when none has arrived, the reader asks the inner object to send
//! the output it holds ([`flush_before_wait`](AsyncReadRent::flush_before_wait): a
//! `BufWriter`'s answers), so a peer waiting for them is never waited for.
//!
//! If the kernel refuses the multishot receive before anything arrived (`EINVAL`: a kernel
//! without it), the reader, and the runtime's later readers, fall back to plain reads.

use super::{too_long, BufReader};
use crate::buf::{put_slice_at, IoBufMut, RingBuf};
use crate::io::AsyncReadRent;
use crate::net::RecvStream;
use std::future::poll_fn;
use std::io;
use std::ops::Range;
use std::task::Poll;

/// How a [`BufReader`] reaches its inner reader, decided on its first read.
pub(super) enum Source {
    Undecided,
    Plain,
    Pooled(Pooled),
}

pub(super) struct Pooled {
    /// The armed receive; `None` after it failed, to be asked for again.
    stream: Option<RecvStream>,
    /// The pool buffer being served; `chunk[at..]` is unconsumed. (`at` is a u32, as a pool
    /// buffer's length: it keeps every idle reader, and so its task, a little smaller.)
    chunk: Option<RingBuf>,
    at: u32,
    /// Whether anything arrived yet (a refused receive can still fall back).
    received: bool,
}

/// Where [`BufReader::next_line_pooled`] found the line.
pub(super) enum Line {
    Side(Range<usize>),
    Chunk(Range<usize>),
    End,
    Fallback,
}

enum Pulled {
    Chunk,
    Eof,
    Fallback,
}

impl Source {
    /// The pooled source for `inner`, or the plain one if it offers none.
    pub(super) fn decide<R: AsyncReadRent>(inner: &R) -> Source {
        match inner.pooled_receive() {
            Some(stream) => Source::Pooled(Pooled {
                stream: Some(stream),
                chunk: None,
                at: 0,
                received: false,
            }),
            None => Source::Plain,
        }
    }

    pub(super) fn is_pooled(&self) -> bool {
        matches!(self, Source::Pooled(_))
    }

    /// The unconsumed bytes of the current chunk.
    pub(super) fn chunk(&self) -> &[u8] {
        match self {
            Source::Pooled(Pooled {
                chunk: Some(chunk),
                at,
                ..
            }) => &chunk[*at as usize..],
            _ => &[],
        }
    }

    /// The whole current chunk (the ranges of [`Line::Chunk`] index it).
    pub(super) fn whole_chunk(&self) -> &[u8] {
        match self {
            Source::Pooled(Pooled {
                chunk: Some(chunk), ..
            }) => chunk,
            _ => &[],
        }
    }

    /// Consumes up to `amt` bytes of the chunk, giving it back to the ring once all are.
    pub(super) fn consume(&mut self, amt: usize) {
        if let Source::Pooled(pooled) = self {
            if let Some(chunk) = &pooled.chunk {
                let at = chunk.len().min((pooled.at as usize).saturating_add(amt));
                pooled.at = at as u32;
                if at == chunk.len() {
                    pooled.chunk = None;
                    pooled.at = 0;
                }
            }
        }
    }
}

impl<R: AsyncReadRent> BufReader<R> {
    /// Makes sure something is buffered (or the end reached) on the ring path. `Ok(false)`: the
    /// reader fell back to plain reads and nothing is buffered.
    pub(super) async fn fill_pooled(&mut self) -> io::Result<bool> {
        if self.pos < self.buf.len() || !self.source.chunk().is_empty() {
            return Ok(true);
        }
        self.free_side();
        match self.pull().await? {
            Pulled::Chunk | Pulled::Eof => Ok(true),
            Pulled::Fallback => Ok(false),
        }
    }

    /// [`next_line`](BufReader::next_line) on the ring path: a line inside one chunk is served
    /// from it; one spanning chunks is joined in the side buffer.
    pub(super) async fn next_line_pooled(&mut self, max: usize) -> io::Result<Line> {
        loop {
            // The side buffer holds only the start of this line (no newline, at most `max`).
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let side = self.buf.len();
            if side > max {
                // Gathered under a larger `max` by a call that was dropped.
                self.pos = max;
                return Err(too_long(max));
            }
            let Source::Pooled(pooled) = &mut self.source else {
                return Ok(Line::Fallback);
            };
            if let Some(chunk) = &pooled.chunk {
                let at = pooled.at as usize;
                let rest = &chunk[at..];
                let room = max - side;
                let window = &rest[..rest.len().min(room)];
                if let Some(i) = window.iter().position(|&b| b == b'\n') {
                    let end = at + i + 1;
                    pooled.at = end as u32;
                    if side == 0 {
                        return Ok(Line::Chunk(at..end));
                    }
                    self.buf.extend_from_slice(&rest[..=i]);
                    self.pos = self.buf.len();
                    return Ok(Line::Side(0..self.pos));
                }
                if rest.len() > room {
                    // `max` bytes without a newline and more behind them.
                    pooled.at = (at + room) as u32;
                    self.pos = self.buf.len();
                    return Err(too_long(max));
                }
                self.buf.extend_from_slice(rest);
            }
            if self.buf.is_empty() {
                self.free_side();
            }
            match self.pull().await? {
                Pulled::Chunk => {}
                Pulled::Eof if self.buf.is_empty() => return Ok(Line::End),
                Pulled::Eof => {
                    self.pos = self.buf.len();
                    return Ok(Line::Side(0..self.pos));
                }
                Pulled::Fallback => return Ok(Line::Fallback),
            }
        }
    }

    /// After a read put `filled` bytes into `buf` and consumed them, adds the chunks the
    /// receive already holds, without waiting, while `buf` has room: a message that came in
    /// several pool buffers leaves in one read (and so one write, for an echo). Returns the
    /// new count.
    pub(super) fn gather_received<B: IoBufMut>(&mut self, buf: &mut B, mut filled: usize) -> usize {
        // Bytes left in the side buffer or the chunk mean `buf` is full.
        while filled < buf.bytes_total() && self.pos == self.buf.len() {
            let Source::Pooled(pooled) = &mut self.source else {
                break;
            };
            if pooled.chunk.is_some() {
                break;
            }
            let Some(chunk) = pooled.stream.as_mut().and_then(|s| s.try_next()) else {
                break;
            };
            let n = put_slice_at(buf, filled, &chunk);
            filled += n;
            pooled.at = 0;
            pooled.chunk = Some(chunk);
            self.source.consume(n);
        }
        filled
    }

    /// Frees the side buffer while it holds nothing, so a waiting reader holds no memory.
    fn free_side(&mut self) {
        if self.pos == self.buf.len() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.pos = 0;
        }
    }

    /// Gives the current chunk back and waits for the next one.
    async fn pull(&mut self) -> io::Result<Pulled> {
        loop {
            let Source::Pooled(pooled) = &mut self.source else {
                return Ok(Pulled::Fallback);
            };
            pooled.chunk = None;
            pooled.at = 0;
            if pooled.stream.is_none() {
                pooled.stream = self.inner.pooled_receive();
            }
            let Some(stream) = &mut pooled.stream else {
                // The pool went away (the runtime is shutting down): read plainly.
                self.source = Source::Plain;
                return Ok(Pulled::Fallback);
            };
            // Output held back for the peer goes out before we wait for the peer (it may be
            // waiting for that output), and only then: what a pipelining peer sent together
            // is answered in one send. At the end of the stream too, as the conversation may
            // end with the last answers still buffered. A receive error is reported as it is.
            let next = match poll_fn(|cx| Poll::Ready(stream.poll_next(cx))).await {
                Poll::Ready(Some(received)) => Some(received),
                Poll::Ready(None) => {
                    self.inner.flush_before_wait().await?;
                    None
                }
                // Only the runtime that armed the receive can reap it, and that one is alive
                // (a dropped one would have ended it) but not running: waiting would hang, and
                // a receive armed here would skip what that one may already hold.
                Poll::Pending if !stream.serves_current_runtime() => return Err(elsewhere()),
                Poll::Pending => {
                    self.inner.flush_before_wait().await?;
                    stream.next().await
                }
            };
            match next {
                Some(Ok(chunk)) => {
                    pooled.received = true;
                    if !chunk.is_empty() {
                        pooled.chunk = Some(chunk);
                        return Ok(Pulled::Chunk);
                    }
                }
                None => return Ok(Pulled::Eof),
                // The reader was carried into another runtime: the old receive has handed out
                // all it had received, and cannot re-arm here; ask this runtime's pool.
                Some(Err(_)) if !stream.serves_current_runtime() => pooled.stream = None,
                Some(Err(err)) if err.raw_os_error() == Some(libc::EINVAL) && !pooled.received => {
                    if let Some(pool) = crate::buf::pool::current() {
                        pool.mark_unsupported(&err);
                    }
                    self.source = Source::Plain;
                    return Ok(Pulled::Fallback);
                }
                Some(Err(err)) => {
                    // The receive ended: the next call asks the socket again, as a plain read
                    // would (a `timeout_op` deadline ends only the wait, not the receive).
                    if err.kind() != io::ErrorKind::TimedOut {
                        pooled.stream = None;
                    }
                    if err.kind() != io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
            }
        }
    }
}

/// A reader carried into another runtime while the one its receive belongs to is idle.
fn elsewhere() -> io::Error {
    io::Error::other(
        "coring: this BufReader's receive was armed in another runtime, which is not running, \
         and only that runtime can reap it (it may hold bytes already); run or drop that \
         runtime first, then read again (or keep the reader in one runtime)",
    )
}

#[cfg(test)]
mod tests {
    use super::BufReader;
    use crate::net::{TcpListener, TcpStream};

    /// Every idle connection of a buffered server is a task awaiting one of these futures, so
    /// their size is paid per connection (issue 19: an idle connection in at most 1 KiB).
    #[test]
    fn an_idle_buffered_echo_future_stays_small() {
        crate::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let stream = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let mut reader = BufReader::new(stream);
            let fill_buf = std::mem::size_of_val(&reader.fill_buf());
            let next_line = std::mem::size_of_val(&reader.next_line(100));
            let echo = std::mem::size_of_val(&echo(reader));
            println!("fill_buf {fill_buf} B, next_line {next_line} B, echo {echo} B");
            // Measured 312, 400 and 792 B. The echo was 824 B while `TcpStream::write_all` was
            // an `async fn` around the shared loop (a second copy of the buffer and the mark):
            // its write_all, not the reader's send-first, was the largest await.
            assert!(fill_buf <= 312, "fill_buf's future is {fill_buf} B");
            assert!(next_line <= 400, "next_line's future is {next_line} B");
            assert!(echo <= 792, "a buffered echo's future is {echo} B");
        });
    }

    /// R2's buffered echo (tests/ten_thousand_idle_connections_...), as a user writes it.
    async fn echo(mut reader: BufReader<TcpStream>) -> std::io::Result<()> {
        let mut out = Vec::new();
        loop {
            let chunk = reader.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(());
            }
            out.clear();
            out.extend_from_slice(chunk);
            let n = chunk.len();
            reader.consume(n);
            let (written, back) = reader.get_ref().write_all(out).await;
            written?;
            out = back;
        }
    }
}
