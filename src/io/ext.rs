//! [`AsyncReadRentExt::read_exact`] and [`AsyncWriteRentExt::write_all`]: loops over the base
//! methods that move one owned buffer through [`Slice`](crate::buf::Slice)s of itself.

use super::{AsyncReadRent, AsyncWriteRent, CutShortMark};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use std::future::Future;
use std::io;

/// Helpers for every [`AsyncReadRent`].
pub trait AsyncReadRentExt: AsyncReadRent {
    /// Reads until `buf` is full: all of its capacity (`bytes_total()`), from its first byte.
    /// To read exactly `n` bytes, pass `buf.slice(..n)`.
    ///
    /// Reads that are `Interrupted` are retried.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first; the bytes read so far are in the buffer (marked
    /// initialized) and consumed from the stream. Any other read error, likewise.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: bytes read before the future was dropped are consumed from the reader
    /// and go with the buffer.
    ///
    /// ```
    /// use coring::buf::IoBuf;
    /// use coring::io::AsyncReadRentExt;
    ///
    /// coring::block_on(async {
    ///     let mut reader: &[u8] = b"0123456789";
    ///     let (res, slice) = reader.read_exact(Vec::with_capacity(16).slice(..4)).await;
    ///     res.unwrap();
    ///     assert_eq!(slice.into_inner(), b"0123");
    /// });
    /// ```
    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        async move {
            let total = buf.bytes_total();
            let mut buf = buf;
            let mut filled = 0;
            while filled < total {
                let (result, slice) = self.read(buf.slice(filled..)).await;
                buf = slice.into_inner();
                match result {
                    Ok(0) => {
                        let eof = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "stream ended before the buffer was filled",
                        );
                        return (Err(eof), buf);
                    }
                    Ok(n) => filled += n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return (Err(err), buf),
                }
            }
            (Ok(()), buf)
        }
    }
}

impl<R: AsyncReadRent + ?Sized> AsyncReadRentExt for R {}

/// Helpers for every [`AsyncWriteRent`].
pub trait AsyncWriteRentExt: AsyncWriteRent {
    /// Writes all of `buf`'s initialized bytes, in as many writes as it takes, and gives the
    /// buffer back. Writes that are `Interrupted` are retried.
    ///
    /// # Errors
    ///
    /// `WriteZero` if a write accepts nothing; any write error. How much was written before the
    /// error is not reported.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped midway, part of the buffer may have been written; how much is
    /// not reported. It then sets the writer's
    /// [`cut_short_mark`](AsyncWriteRent::cut_short_mark): a `TcpStream` fails its later
    /// writes, as after its own `write_all` was cut short.
    ///
    /// ```
    /// use coring::io::AsyncWriteRentExt;
    ///
    /// coring::block_on(async {
    ///     let mut out = Vec::new();
    ///     let (res, buf) = out.write_all(b"hello".to_vec()).await;
    ///     res.unwrap();
    ///     assert_eq!((&out[..], &buf[..]), (&b"hello"[..], &b"hello"[..]));
    /// });
    /// ```
    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        let cut_short = self.cut_short_mark();
        write_all(self, cut_short, buf)
    }
}

impl<W: AsyncWriteRent + ?Sized> AsyncWriteRentExt for W {}

/// One write of some of a buffer's initialized bytes: all that [`write_all`] needs. A `&mut`
/// to every [`AsyncWriteRent`] is one, and so is `&TcpStream`, whose inherent `write_all` takes
/// `&self`. (Taken by value, so `TcpStream::write_all` needs no async layer of its own.)
pub(crate) trait WriteSome {
    /// Writes some of `buf`'s initialized bytes, as [`AsyncWriteRent::write`].
    fn write_some<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;
}

impl<W: AsyncWriteRent + ?Sized> WriteSome for &mut W {
    fn write_some<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).write(buf)
    }
}

/// The one write-all loop ([`AsyncWriteRentExt::write_all`], `TcpStream::write_all`): writes
/// until every initialized byte of `buf` is written, retrying `Interrupted`; a write that
/// accepts nothing is `WriteZero`. `cut_short` is armed only while a partly written buffer
/// waits on a write, so a future dropped there marks the writer, and a returned error is
/// reported as itself.
pub(crate) async fn write_all<W: WriteSome, B: IoBuf>(
    mut writer: W,
    mut cut_short: CutShortMark,
    mut buf: B,
) -> BufResult<(), B> {
    let total = buf.bytes_init();
    let mut written = 0;
    while written < total {
        let (result, slice) = writer.write_some(buf.slice(written..total)).await;
        buf = slice.into_inner();
        let err = match result {
            Ok(0) => io::ErrorKind::WriteZero.into(),
            Ok(n) => {
                written += n;
                cut_short.arm(written < total);
                continue;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => err,
        };
        cut_short.arm(false);
        return (Err(err), buf);
    }
    (Ok(()), buf)
}

#[cfg(test)]
mod tests {
    use super::{AsyncReadRentExt, AsyncWriteRentExt};
    use crate::buf::IoBuf;
    use crate::io::test_support::{ChunkedReader, ChunkedWriter};
    use std::io;

    #[test]
    fn read_exact_gathers_small_chunks() {
        crate::block_on(async {
            let mut reader = ChunkedReader::new(&b"abcdefghij"[..], &[1, 2, 3]);
            let (res, slice) = reader.read_exact(Vec::with_capacity(32).slice(..7)).await;
            res.unwrap();
            assert_eq!(slice.into_inner(), b"abcdefg");
            assert_eq!(reader.pulled(), 7, "nothing read past the request");
        });
    }

    #[test]
    fn read_exact_reports_early_eof_with_the_partial_bytes() {
        crate::block_on(async {
            let mut reader = ChunkedReader::new(&b"abc"[..], &[2]);
            let (res, buf) = reader.read_exact(vec![0u8; 5].into_boxed_slice()).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            assert_eq!(&buf[..3], b"abc");
        });
    }

    #[test]
    fn write_all_loops_over_short_writes() {
        crate::block_on(async {
            let mut writer = ChunkedWriter::new(3);
            let (res, buf) = writer.write_all(b"0123456789".to_vec()).await;
            res.unwrap();
            assert_eq!(buf, b"0123456789");
            assert_eq!(writer.data, b"0123456789");
            assert_eq!(writer.writes, [3, 3, 3, 1]);
        });
    }

    #[test]
    fn write_all_turns_a_zero_write_into_write_zero() {
        crate::block_on(async {
            let mut writer = ChunkedWriter::new(4);
            writer.accept_limit = Some(6);
            writer.zero_at_limit = true;
            let (res, _) = writer.write_all(&b"0123456789"[..]).await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::WriteZero);
            assert_eq!(writer.data, b"012345");
        });
    }
}
