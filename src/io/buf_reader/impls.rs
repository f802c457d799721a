//! `BufReader` as a reader and a writer itself, and its `Debug`.

use super::BufReader;
use crate::buf::{put_slice, BufResult, IoBuf, IoBufMut, Slice};
use crate::io::{AsyncReadRent, AsyncWriteRent, CutShortMark};
use crate::net::OwnedSend;
use std::future::Future;
use std::{fmt, io};

/// Serves buffered bytes first; with nothing buffered and a caller's buffer at least as large
/// as the internal one, reads straight into the caller's buffer. On the ring path it also adds
/// every pool buffer already received, while the caller's buffer has room, so a message that
/// arrived in several pool buffers comes out of one read. Cancel safe as
/// [`fill_buf`](BufReader::fill_buf).
impl<R: AsyncReadRent> AsyncReadRent for BufReader<R> {
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        if let Err(err) = self.recover() {
            return (Err(err), buf);
        }
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        let plain = !self.source.is_pooled();
        if plain && self.pos == self.buf.len() && buf.bytes_total() >= self.capacity {
            self.pos = 0;
            self.buf.clear();
            return self.inner.read(buf).await;
        }
        let n = match self.fill_buf().await {
            Ok(available) => put_slice(&mut buf, available),
            Err(err) => return (Err(err), buf),
        };
        self.consume(n);
        let n = self.gather_received(&mut buf, n);
        (Ok(n), buf)
    }

    fn flush_before_wait(&mut self) -> impl Future<Output = io::Result<()>> {
        self.inner.flush_before_wait()
    }
}

/// Writes go straight to the inner object.
impl<R: AsyncWriteRent> AsyncWriteRent for BufReader<R> {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        self.inner.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        self.inner.shutdown()
    }

    fn cut_short_mark(&self) -> CutShortMark {
        self.inner.cut_short_mark()
    }

    fn send_owned(&self, buf: Slice<Vec<u8>>) -> Result<OwnedSend, Slice<Vec<u8>>> {
        self.inner.send_owned(buf)
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &self.buffer().len())
            .field("capacity", &self.capacity)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}
