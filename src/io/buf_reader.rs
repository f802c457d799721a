//! [`BufReader`]: one internal buffer in front of a reader, and line reading with a length bound.
//!
//! The buffer is a `Vec<u8>` whose length is the fill mark: `buf[pos..]` is what has been read
//! from the inner reader and not yet consumed. To refill it, the reader lends the whole `Vec` to
//! the inner `read` as a slice of its free tail (`buf.slice(len..)`) and takes it back with the
//! result, so bytes land right behind the ones already buffered and no copy is made.
//!
//! While lent, `self.buf` is an empty `Vec` with no capacity. If the read future is dropped, the
//! buffer goes with it; the next call notices the missing capacity and allocates a new one.
//! Only [`next_line`](BufReader::next_line) lends the buffer while it holds unconsumed bytes (a
//! partial line it keeps contiguous); if such a read is dropped those bytes are gone, so the
//! reader is marked poisoned and every later call fails. [`read_line`](BufReader::read_line)
//! does the same when it is dropped holding part of a line it took from the buffer.
//!
//! Over a coring socket the reader takes the ring path instead (see `pooled`): no buffer of its
//! own, bytes served from the pool buffers the kernel filled.

use super::AsyncReadRent;
use crate::buf::IoBuf;
use std::future::Future;
use std::io;

mod impls;
mod pooled;
#[cfg(test)]
mod tests;

use pooled::{Line, Source};

const DEFAULT_CAPACITY: usize = 8 * 1024;

/// Adds an internal buffer to a reader, and reads lines with a maximum length.
///
/// # Over a socket: the runtime's read pool
///
/// Over a coring `TcpStream` or `UnixStream` it owns (or their owned read halves) the
/// reader reads through the runtime's read pool (see
/// [`Runtime::read_path`](crate::Runtime::read_path)): one multishot receive stays armed, the
/// kernel fills a pool buffer only when bytes arrive, and [`fill_buf`](Self::fill_buf) and
/// [`next_line`](Self::next_line) hand out slices of that buffer, with no copy. Only a line
/// that spans two pool buffers is copied, into a side buffer of at most `max` bytes. A pool
/// buffer goes back to the ring once consumed, so an idle connection holds no read buffer at
/// all (the reader allocates its own buffer only on the plain path, on its first read). On the
/// ring path `next_line` and `fill_buf` are cancel safe: a dropped call loses nothing (over a
/// [`BufWriter`](super::BufWriter) holding answers too, see `next_line`), and
/// [`read`](AsyncReadRent::read) copies every pool buffer already received into the caller's
/// buffer (up to its size), so a message that arrived in several pool buffers comes out of
/// one read. A reader holds at most 64 KiB of the pool (a quarter of a ring if less) before
/// its receive pauses until it consumes; one whose ring runs dry moves to a ring with
/// buffers, so readers that stop reading cannot starve the others. Carried into another
/// runtime on the same thread, the reader goes on through that runtime's pool once the first
/// is dropped; while the first is alive but not running, a read that would wait fails at once
/// saying so (only that runtime can reap the receive it armed, which may hold bytes already).
///
/// Over a borrowed stream (`BufReader::new(&mut stream)`) it reads plainly instead: the armed
/// receive takes bytes from the socket even between calls, so a borrowing reader dropped while
/// the stream lives on would take bytes the stream's next read is owed. An owning reader goes
/// with its stream (and [`into_inner`](Self::into_inner) reports such bytes as lost).
///
/// Reading a line never buffers more than the caller allows: [`read_line`](Self::read_line),
/// [`read_until`](Self::read_until) and [`next_line`](Self::next_line) take a `max` and fail with
/// `InvalidData` once a line would be longer, so a peer that sends an endless line costs at most
/// `max` bytes plus the buffer's capacity. Lines are counted with their delimiter.
///
/// `BufReader` is itself an [`AsyncReadRent`] (serving buffered bytes first) and passes writes
/// through to the inner object when it is an [`AsyncWriteRent`](super::AsyncWriteRent), so a
/// `BufReader<TcpStream>` can both parse a request and answer it. Over a [`BufWriter`](super::BufWriter)
/// (`BufReader<BufWriter<TcpStream>>`) the answers are buffered and sent, all together, just
/// before the reader waits for more input: see "Answering a peer" there.
///
/// ```
/// use coring::io::BufReader;
///
/// coring::block_on(async {
///     let mut reader = BufReader::new(&b"one\ntwo\r\nthree"[..]);
///     let mut lines = Vec::new();
///     while let Some(line) = reader.next_line(64).await? {
///         lines.push(String::from_utf8_lossy(line).into_owned());
///     }
///     assert_eq!(lines, ["one\n", "two\r\n", "three"]);
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct BufReader<R> {
    inner: R,
    /// `buf[pos..]` is buffered and unconsumed; `buf.len()` is the fill mark.
    buf: Vec<u8>,
    pos: usize,
    /// The capacity asked for, to reallocate after a dropped read took the buffer.
    capacity: usize,
    /// Set while a read holds buffered bytes hostage; stays set if that read was dropped.
    poisoned: bool,
    /// Plain reads into `buf`, or the runtime's read pool (then `buf` is the side buffer).
    source: Source,
}

impl<R> BufReader<R> {
    /// Wraps `inner` with an 8 KiB buffer (allocated on the first plain read; none on the
    /// ring path).
    pub fn new(inner: R) -> Self {
        Self::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// Wraps `inner` with a buffer of `capacity` bytes. The capacity is also the longest line
    /// [`next_line`](Self::next_line) can return.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    #[track_caller]
    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        assert!(
            capacity > 0,
            "BufReader needs a capacity of at least one byte"
        );
        BufReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            capacity,
            poisoned: false,
            source: Source::Undecided,
        }
    }

    /// The capacity of the internal buffer, as asked for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes buffered and not yet consumed (what [`fill_buf`](Self::fill_buf) returned,
    /// less what was consumed since).
    pub fn buffer(&self) -> &[u8] {
        match self.pos < self.buf.len() {
            true => &self.buf[self.pos..],
            false => self.source.chunk(),
        }
    }

    /// Marks the first `amt` buffered bytes consumed (at most all of them), after
    /// [`fill_buf`](Self::fill_buf).
    pub fn consume(&mut self, amt: usize) {
        match self.pos < self.buf.len() {
            true => self.pos = self.buf.len().min(self.pos.saturating_add(amt)),
            false => self.source.consume(amt),
        }
    }

    /// Whether reads go through the runtime's read pool (see the type's docs): `false` until
    /// the first read decides, and on the plain path.
    pub fn reads_through_pool(&self) -> bool {
        self.source.is_pooled()
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader, mutably. Reading from it directly skips the bytes buffered here; on
    /// the ring path it also races the armed receive for the bytes to come, so read through
    /// the `BufReader` (or [`into_inner`](Self::into_inner) first).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Gives the inner reader back. Buffered bytes that were not consumed are dropped: take them
    /// from [`buffer`](Self::buffer) first if they matter. On the ring path this cancels the
    /// armed receive; bytes it had received and not handed out are lost, and a `TcpStream`
    /// then fails its later reads saying so (never a silent gap).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// The part of a line [`BufReader::read_line`] has taken from the buffer; poisons the reader if
/// dropped before the line is complete (the bytes would otherwise vanish without a trace).
struct PartialLine<'a, R> {
    reader: &'a mut BufReader<R>,
    bytes: Vec<u8>,
    finished: bool,
}

impl<R> Drop for PartialLine<'_, R> {
    fn drop(&mut self) {
        if !self.finished && !self.bytes.is_empty() {
            self.reader.poisoned = true;
        }
    }
}

impl<R: AsyncReadRent> BufReader<R> {
    /// Fails if a dropped read lost buffered bytes; on the first call picks the read path; on
    /// the plain path, allocates the buffer (first read, or after a dropped read took it).
    fn recover(&mut self) -> io::Result<()> {
        if self.poisoned {
            return Err(io::Error::other(
                "BufReader: a dropped read lost buffered bytes of a partial line; \
                 the stream position is unknown",
            ));
        }
        if let Source::Undecided = self.source {
            self.source = Source::decide(&self.inner);
        }
        if !self.source.is_pooled() && self.buf.capacity() == 0 {
            self.buf = Vec::with_capacity(self.capacity);
            self.pos = 0;
        }
        Ok(())
    }

    /// Returns the buffered bytes, reading from the inner reader first if there are none. An
    /// empty slice is the end of the stream. Follow with [`consume`](Self::consume).
    ///
    /// # Errors
    ///
    /// A read error from the inner reader (`Interrupted` reads are retried).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as far as the `BufReader` goes (it reads only when its buffer is empty);
    /// the inner reader's read decides whether a drop loses bytes.
    pub async fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.recover()?;
        if self.source.is_pooled() {
            if self.fill_pooled().await? {
                return Ok(self.buffer());
            }
            self.recover()?;
        }
        if self.pos == self.buf.len() {
            self.refill().await?;
        }
        Ok(self.buffer())
    }

    /// Reads into the emptied buffer, retrying `Interrupted`. Lends the `Vec` itself, not a
    /// slice of it as [`read_more`](Self::read_more) does: the smaller read future keeps the
    /// future of `fill_buf`, and with it every task awaiting one, small.
    async fn refill(&mut self) -> io::Result<()> {
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            self.pos = 0;
            let (result, buf) = self.inner.read(buf).await;
            self.buf = buf;
            match result {
                Ok(_) => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads up to and including the next `byte`, appending to `out`, and returns how many bytes
    /// were appended: at most `max`. `Ok(0)` is the end of the stream; a last line without the
    /// delimiter is returned as it is.
    ///
    /// # Errors
    ///
    /// `InvalidData` as soon as the line would be longer than `max` (`max` bytes without the
    /// delimiter, and more bytes after them). The first `max` bytes of the line have then been
    /// appended to `out` and consumed; the rest of the line is still to be read. On a read error,
    /// the bytes appended so far stay in `out` and are consumed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as [`fill_buf`](Self::fill_buf): bytes appended to `out` before the drop
    /// stay there and are consumed, so calling again appends the rest of the line.
    pub async fn read_until(
        &mut self,
        byte: u8,
        out: &mut Vec<u8>,
        max: usize,
    ) -> io::Result<usize> {
        let mut read = 0;
        loop {
            let available = self.fill_buf().await?;
            if available.is_empty() {
                return Ok(read);
            }
            let room = max - read;
            if room == 0 {
                return Err(too_long(max));
            }
            let window = &available[..available.len().min(room)];
            let (taken, done) = match window.iter().position(|&b| b == byte) {
                Some(i) => (&window[..=i], true),
                None => (window, false),
            };
            out.extend_from_slice(taken);
            let n = taken.len();
            self.consume(n);
            read += n;
            if done {
                return Ok(read);
            }
        }
    }

    /// Reads a line (up to and including `\n`, so `\r\n` endings keep their `\r`), appending it
    /// to `out`, and returns its length in bytes: at most `max`. `Ok(0)` is the end of the
    /// stream; a last line without `\n` is returned as it is.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the line would be longer than `max` bytes (its first `max` bytes are
    /// consumed, the rest is still to be read), or if it is not valid UTF-8 (the whole line is
    /// consumed). A read error from the inner reader (the part of the line read before it is
    /// consumed). On any error `out` is left as it was.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped with part of a line taken, that part is lost and every later
    /// call on the reader fails saying so (never a cut line passed off as whole).
    pub async fn read_line(&mut self, out: &mut String, max: usize) -> io::Result<usize> {
        // Read into `out`'s own allocation when it is empty (nothing to lose if this future is
        // dropped), otherwise into a separate vector, so `out` is only touched once the line is
        // known to be valid.
        let bytes = match out.is_empty() {
            true => std::mem::take(out).into_bytes(),
            false => Vec::new(),
        };
        // Bytes of the line taken from the buffer live only in this future until the line is
        // complete: if it is dropped in between (a timeout), the guard poisons the reader, so
        // later reads fail instead of returning the rest of the line as a line.
        let mut guard = PartialLine {
            reader: self,
            bytes,
            finished: false,
        };
        let PartialLine { reader, bytes, .. } = &mut guard;
        let result = reader.read_until(b'\n', bytes, max).await;
        guard.finished = true;
        let line = String::from_utf8(std::mem::take(&mut guard.bytes));
        match (result, line) {
            (Ok(n), Ok(line)) => {
                if out.is_empty() {
                    *out = line;
                } else {
                    out.push_str(&line);
                }
                Ok(n)
            }
            (Err(err), _) => Err(err),
            (Ok(_), Err(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "line is not valid UTF-8",
            )),
        }
    }

    /// Returns the next line, up to and including `\n`, as a slice of the internal buffer: no
    /// copy. `Ok(None)` is the end of the stream; a last line without `\n` is returned as it is.
    /// The slice is valid until the next call on this reader.
    ///
    /// To keep a line contiguous, a partial line at the end of the buffer is moved to its front
    /// before reading more behind it.
    ///
    /// # Errors
    ///
    /// `InvalidData` as soon as the line would be longer than `max` bytes; its first `max`
    /// bytes are then consumed and the rest is still to be read. A read error from the inner
    /// reader.
    ///
    /// # Cancel safety
    ///
    /// On the ring path (a coring socket), cancel safe: a partial line stays buffered and the
    /// next call goes on with it. Otherwise not cancel safe: dropping this future while it
    /// waits on a read with a partial line buffered loses that partial line, and every later
    /// call on the reader fails.
    ///
    /// Over a [`BufWriter`](super::BufWriter) that holds output, the call first sends that
    /// output (so a peer waiting for its answers gets them before this waits). Dropped during
    /// that send, it leaves the send in flight, kept by the writer, and the next call on the
    /// reader or the writer takes its outcome first: nothing is lost or reordered, so a server
    /// may race `next_line` against other events (a `select!` with a message channel) and
    /// write its answers buffered. This holds over coring's streams, whose sends the writer
    /// can keep (see `BufWriter`'s "Cancel safety"); over another writer such a drop poisons
    /// the `BufWriter`, and every later write fails.
    ///
    /// # Panics
    ///
    /// If `max` is larger than the buffer's [`capacity`](Self::capacity).
    #[track_caller]
    pub fn next_line(
        &mut self,
        max: usize,
    ) -> impl Future<Output = io::Result<Option<&[u8]>>> + '_ {
        assert!(
            max <= self.capacity,
            "next_line: max ({max}) must not exceed the BufReader's capacity ({}); \
             use BufReader::with_capacity",
            self.capacity
        );
        self.next_line_bounded(max)
    }

    async fn next_line_bounded(&mut self, max: usize) -> io::Result<Option<&[u8]>> {
        self.recover()?;
        if self.source.is_pooled() {
            match self.next_line_pooled(max).await? {
                Line::Chunk(range) => return Ok(Some(&self.source.whole_chunk()[range])),
                Line::Side(range) => return Ok(Some(&self.buf[range])),
                Line::End => return Ok(None),
                Line::Fallback => self.recover()?,
            }
        }
        // How many unconsumed bytes are known to hold no newline: each byte is scanned once,
        // however small the reads that bring the line in.
        let mut scanned = 0;
        let line = loop {
            let unconsumed = &self.buf[self.pos..];
            let len = unconsumed.len();
            let window = &unconsumed[scanned..len.min(max)];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                break Some(self.pos..self.pos + scanned + i + 1);
            }
            scanned = len.min(max);
            if len > max {
                self.pos += max;
                return Err(too_long(max));
            }
            if self.pos > 0 {
                self.buf.copy_within(self.pos.., 0);
                self.buf.truncate(len);
                self.pos = 0;
            }
            if self.buf.len() == self.buf.capacity() {
                // Exactly `max == capacity` bytes and no room: one more byte decides.
                match self.probe_past_full_buffer(max).await? {
                    true => break Some(self.pos..self.pos + len),
                    false => return Err(too_long(max)),
                }
            }
            if self.read_more().await? == 0 {
                break (len > 0).then_some(self.pos..self.pos + len);
            }
        };
        match line {
            Some(range) => {
                self.pos = range.end;
                Ok(Some(&self.buf[range]))
            }
            None => Ok(None),
        }
    }

    /// With the buffer full of a line of `max` bytes and no `\n`, reads one byte on the side.
    /// Returns `true` at the end of the stream (the buffer is the last line). Otherwise the
    /// line is too long: its `max` bytes are consumed and the byte read becomes the buffer.
    async fn probe_past_full_buffer(&mut self, max: usize) -> io::Result<bool> {
        debug_assert_eq!(self.buffer().len(), max);
        loop {
            let (result, probe) = self.inner.read(Vec::with_capacity(1)).await;
            match result {
                Ok(_) if probe.is_empty() => return Ok(true),
                Ok(_) => {
                    self.buf.clear();
                    self.buf.extend_from_slice(&probe[..1]);
                    self.pos = 0;
                    return Ok(false);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads from the inner reader into the free tail of the buffer, retrying `Interrupted`, and
    /// returns how many bytes arrived (0: end of stream). The buffer must have room.
    async fn read_more(&mut self) -> io::Result<usize> {
        let holds_bytes = self.pos < self.buf.len();
        loop {
            let buf = std::mem::take(&mut self.buf);
            let start = buf.len();
            debug_assert!(start < buf.capacity(), "read_more needs room in the buffer");
            // If this future is dropped mid-read, the buffered bytes go with the buffer.
            self.poisoned = holds_bytes;
            let (result, slice) = self.inner.read(buf.slice(start..)).await;
            self.poisoned = false;
            self.buf = slice.into_inner();
            match result {
                // The fill mark moved by what the reader marked initialized.
                Ok(_) => return Ok(self.buf.len() - start),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

fn too_long(max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("line longer than the limit of {max} bytes"),
    )
}
