//! [`AsyncReadRent`] and [`AsyncWriteRent`]: reads and writes that take owned buffers and give
//! them back, with forwarding impls for `&mut T` and in-memory impls for `&[u8]` and `Vec<u8>`.

use super::put_slice;
use crate::buf::{BufResult, IoBuf, IoBufMut, Slice};
use crate::net::OwnedSend;
use crate::op::loss::LossFlag;
use std::future::{ready, Future};
use std::io;

/// Something bytes can be read from, one owned buffer at a time.
///
/// # Contract
///
/// - **Buffers in, buffers back.** `read` takes the buffer by value and returns it with the
///   outcome, whether the read succeeded or not.
/// - A read writes at most `buf.bytes_total()` bytes **starting at the buffer's first byte** (for
///   a [`Slice`](crate::buf::Slice), at its begin), marks the first `n` initialized, and returns
///   `Ok(n)`. For a `Vec<u8>` that means `len` becomes at least `n`: reading into a `Vec` with
///   some bytes already in it overwrites them from the start, so read into
///   `vec.slice(vec.len()..)` to append instead.
/// - `Ok(0)` from a buffer with room (`bytes_total() > 0`) is the **end of the stream**: no more
///   bytes will come. `Ok(0)` from a buffer with no room means nothing.
/// - An error of kind `Interrupted` may be retried; the helpers in this module do.
/// - The returned future need not be `Send`: coring runs it on the thread that created it.
///
/// # Cancel safety
///
/// Not cancel safe in general: dropping the future before it finishes drops the buffer (the
/// runtime keeps it while the kernel may still write to it), and bytes the dropped read had
/// taken may be lost. Each implementation says what it does; coring's own never lose bytes
/// silently (a `TcpStream` fails later reads instead), and in-memory readers finish at once.
///
/// # Example
///
/// ```
/// use coring::io::AsyncReadRent;
///
/// coring::block_on(async {
///     let mut reader: &[u8] = b"hello";
///     let (n, buf) = reader.read(Vec::with_capacity(3)).await;
///     assert_eq!((n.unwrap(), &buf[..]), (3, &b"hel"[..]));
///     let (n, buf) = reader.read(buf).await;
///     assert_eq!((n.unwrap(), &buf[..2]), (2, &b"lo"[..]));
///     assert_eq!(reader.read(buf).await.0.unwrap(), 0, "end of stream");
/// });
/// ```
pub trait AsyncReadRent {
    /// Reads some bytes into the start of `buf` and returns how many, with the buffer. See the
    /// trait documentation for the contract.
    ///
    /// # Cancel safety
    ///
    /// See the trait's docs; each implementation says what it does.
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// A multishot receive through the current runtime's read pool (see
    /// [`Runtime::read_path`](crate::Runtime::read_path)), for readers that can offer one:
    /// [`BufReader`](super::BufReader) then reads through it instead of calling
    /// [`read`](Self::read), so that an idle reader holds no buffer and received bytes are
    /// never copied into one. The default offers none; coring's TCP and Unix streams (and
    /// their owned read halves) offer one while the runtime's pool is available; `&mut` to them
    /// does not, so a reader borrowing a stream never takes bytes past its own calls.
    ///
    /// While the returned stream lives, it receives everything that arrives: reading the
    /// object directly in the meantime would take bytes out of order.
    fn pooled_receive(&self) -> Option<crate::net::RecvStream> {
        None
    }

    /// Sends the output this object holds back, before a buffered reader over it waits for
    /// input: a [`BufWriter`](super::BufWriter)'s buffered bytes. A peer that waits for a
    /// response before it sends more must have it before we wait for that peer, so
    /// [`BufReader`](super::BufReader) calls this on the ring path when no input is at hand
    /// and it is about to wait (on the plain path the `BufWriter`'s own
    /// [`read`](Self::read) sends them first). Wrappers forward it to the object they wrap;
    /// the default holds nothing back.
    ///
    /// # Cancel safety
    ///
    /// As the object's `flush`: a `BufWriter` over a coring stream dropped while sending keeps
    /// the send in flight and its next call takes the outcome; over other writers it fails its
    /// later calls.
    fn flush_before_wait(&mut self) -> impl Future<Output = io::Result<()>> {
        ready(Ok(()))
    }
}

/// Something bytes can be written to, one owned buffer at a time.
///
/// # Contract
///
/// - **Buffers in, buffers back.** `write` takes the buffer by value and returns it with the
///   outcome.
/// - A write sends some of the buffer's **initialized** bytes (`bytes_init()`, from its first
///   byte) and returns `Ok(n)`: possibly fewer than all of them. `Ok(0)` for a non-empty buffer
///   means the writer cannot take more; [`write_all`](super::AsyncWriteRentExt::write_all) turns
///   it into a `WriteZero` error.
/// - `flush` pushes any bytes the writer itself buffers to their destination.
/// - `shutdown` flushes, then ends the writing side (for TCP, the peer reads end of stream).
///   Writes after it fail.
/// - The returned futures need not be `Send`.
///
/// # Cancel safety
///
/// Not cancel safe in general: dropping a write future before it finishes leaves unknown how
/// much of the buffer was written. Each implementation says what it does (a `TcpStream` fails
/// later writes if bytes went out; a `BufWriter` over a coring stream keeps its send in flight
/// for its next call, see [`send_owned`](AsyncWriteRent::send_owned)). A
/// [`write_all`](super::AsyncWriteRentExt::write_all) dropped after writing part of its buffer
/// sets the writer's [`cut_short_mark`](AsyncWriteRent::cut_short_mark); coring's TCP streams
/// then fail every later write, as for their own `write_all`, rather than let the peer read a
/// cut-off message run into the next one.
///
/// # Example
///
/// ```
/// use coring::io::AsyncWriteRent;
///
/// coring::block_on(async {
///     let mut out = Vec::new();
///     let (n, _buf) = out.write("hello").await;
///     assert_eq!(n.unwrap(), 5);
///     out.shutdown().await.unwrap();
///     assert_eq!(out, b"hello");
/// });
/// ```
pub trait AsyncWriteRent {
    /// Writes some of `buf`'s initialized bytes and returns how many, with the buffer.
    ///
    /// # Cancel safety
    ///
    /// See the trait's docs; each implementation says what it does.
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Sends whatever the writer buffers to its destination.
    ///
    /// # Cancel safety
    ///
    /// See the trait's docs; each implementation says what it does.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>>;

    /// Flushes, then shuts the writing side down.
    ///
    /// # Cancel safety
    ///
    /// See the trait's docs; each implementation says what it does.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>>;

    /// What a [`write_all`](super::AsyncWriteRentExt::write_all) on this writer sets if it is
    /// dropped after writing part of its buffer. The default marks nothing: right for writers
    /// where a later write cannot follow a cut-off one unnoticed (in-memory ones). coring's
    /// `TcpStream` and `OwnedWriteHalf` return their writing direction's mark, and wrappers
    /// (`BufWriter`, `BufReader`, `&mut W`) their inner writer's.
    fn cut_short_mark(&self) -> CutShortMark {
        CutShortMark::default()
    }

    /// Starts sending `buf`'s bytes as an [`OwnedSend`]: a send that owns everything it needs
    /// (the socket, the buffer), so it can outlive the call that started it. `Err(buf)` gives
    /// the buffer back: this writer offers none, and [`write`](Self::write) is the way.
    ///
    /// A [`BufWriter`](super::BufWriter) sends its buffer this way when it can, so that a flush
    /// dropped mid-send (a `select!` that took another branch) leaves the send running, kept by
    /// the writer, whose next call takes its outcome: nothing lost, nothing poisoned. The
    /// default offers none; coring's TCP and Unix streams, their owned writing halves, and the
    /// wrappers of those (`&mut W`, [`BufReader`](super::BufReader)) offer one.
    fn send_owned(&self, buf: Slice<Vec<u8>>) -> Result<OwnedSend, Slice<Vec<u8>>> {
        Err(buf)
    }
}

/// A writer's record that a `write_all` on it was cut short, from
/// [`AsyncWriteRent::cut_short_mark`]. `write_all` arms it while a write that follows a partial
/// one is in flight; dropped armed, it makes the writer fail its later writes.
#[derive(Debug, Default)]
pub struct CutShortMark {
    flag: Option<LossFlag>,
    armed: bool,
}

impl CutShortMark {
    /// A mark that sets `flag` (a stream's writing direction) if dropped while armed.
    pub(crate) fn new(flag: LossFlag) -> CutShortMark {
        CutShortMark {
            flag: Some(flag),
            armed: false,
        }
    }

    /// Whether dropping the mark now means the buffer went out only in part.
    pub(crate) fn arm(&mut self, armed: bool) {
        self.armed = armed;
    }
}

impl Drop for CutShortMark {
    fn drop(&mut self) {
        if let (true, Some(flag)) = (self.armed, &self.flag) {
            flag.set();
        }
    }
}

impl<T: AsyncReadRent + ?Sized> AsyncReadRent for &mut T {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).read(buf)
    }

    fn flush_before_wait(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).flush_before_wait()
    }

    // No `pooled_receive`: a reader over `&mut stream` is dropped while the stream lives on,
    // and a receive armed between its calls would take bytes the stream's next read is owed
    // (see `BufReader`'s docs).
}

impl<T: AsyncWriteRent + ?Sized> AsyncWriteRent for &mut T {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).write(buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).shutdown()
    }

    fn cut_short_mark(&self) -> CutShortMark {
        (**self).cut_short_mark()
    }

    /// The writer's own: the send owns a clone of the socket, not this borrow.
    fn send_owned(&self, buf: Slice<Vec<u8>>) -> Result<OwnedSend, Slice<Vec<u8>>> {
        (**self).send_owned(buf)
    }
}

/// Reading from a byte slice copies from its front and advances it; the empty slice is the end
/// of the stream. Never waits.
impl AsyncReadRent for &[u8] {
    fn read<B: IoBufMut>(&mut self, mut buf: B) -> impl Future<Output = BufResult<usize, B>> {
        let n = put_slice(&mut buf, self);
        *self = &self[n..];
        ready((Ok(n), buf))
    }
}

/// Writing to a `Vec<u8>` appends every initialized byte of the buffer. Never waits or fails;
/// `flush` and `shutdown` do nothing.
impl AsyncWriteRent for Vec<u8> {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        // A whole-buffer slice derefs to exactly the initialized bytes, without `unsafe`.
        let all = buf.slice(..);
        self.extend_from_slice(&all);
        ready((Ok(all.len()), all.into_inner()))
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        ready(Ok(()))
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::{AsyncReadRent, AsyncWriteRent};
    use crate::buf::IoBuf;

    #[test]
    fn slice_reader_reads_into_the_start_and_advances() {
        crate::block_on(async {
            let mut reader: &[u8] = b"abcdef";
            let (n, buf) = reader.read(b"zzzzzzzz".to_vec()).await;
            assert_eq!(n.unwrap(), 6);
            assert_eq!(
                buf, b"abcdefzz",
                "bytes past the read are left as they were"
            );
            assert!(reader.is_empty());
            let (n, _) = reader.read(Vec::with_capacity(4)).await;
            assert_eq!(n.unwrap(), 0);
        });
    }

    #[test]
    fn reading_into_a_tail_slice_appends() {
        crate::block_on(async {
            let mut reader: &[u8] = b"cd";
            let mut buf = Vec::with_capacity(8);
            buf.extend_from_slice(b"ab");
            let start = buf.len();
            let (n, slice) = reader.read(buf.slice(start..)).await;
            assert_eq!(n.unwrap(), 2);
            assert_eq!(slice.into_inner(), b"abcd");
        });
    }

    #[test]
    fn vec_writer_appends_initialized_bytes_only() {
        crate::block_on(async {
            let mut out = b"<".to_vec();
            let mut buf = Vec::with_capacity(16);
            buf.extend_from_slice(b"xy");
            let (n, buf) = out.write(buf).await;
            assert_eq!(n.unwrap(), 2);
            assert_eq!(buf, b"xy", "the buffer comes back");
            // Through the `&mut W` forwarding impl.
            async fn write_through<W: AsyncWriteRent>(
                mut writer: W,
                bytes: &'static [u8],
            ) -> usize {
                writer.write(bytes).await.0.unwrap()
            }
            assert_eq!(write_through(&mut out, b"z").await, 1);
            out.flush().await.unwrap();
            assert_eq!(out, b"<xyz");
        });
    }
}
