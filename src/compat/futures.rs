//! The futures ecosystem (feature `futures-io`): [`FuturesIo`] for `futures_io`'s I/O traits,
//! and `futures_core::Stream` for coring's streams, so `StreamExt` combinators (`map`,
//! `take`, `for_each_concurrent`, `select`, ...) work on them:
//!
//! | type | item |
//! |---|---|
//! | [`Incoming`] (`TcpListener::incoming()`) | `io::Result<TcpStream>` |
//! | [`Interval`] | the tick's `Instant` |
//! | [`mpsc::Receiver`], [`mpsc::UnboundedReceiver`] | the value sent |
//! | [`RecvStream`] (`TcpStream::recv_stream`, the multishot receive) | `io::Result<RingBuf>` |

use super::stream_io::PollIo;
use super::RingStream;
use crate::buf::RingBuf;
use crate::net::{Incoming, RecvStream, TcpStream};
use crate::sync::mpsc;
use crate::time::{Instant, Interval};
use futures_core::Stream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A coring stream as `futures_io::AsyncRead + AsyncBufRead + AsyncWrite`. The
/// [contract](super#the-contract-of-the-io-adapters) is that of every adapter here: it owns its
/// buffers and its operations in flight, so a read or write future dropped between polls loses
/// no byte. `poll_close` flushes, then shuts the writing side down.
///
/// ```
/// use coring::compat::FuturesIo;
/// use coring::net::{TcpListener, TcpStream};
/// use futures_util::io::{AsyncBufReadExt, AsyncWriteExt};
///
/// coring::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let mut client = FuturesIo::new(TcpStream::connect(listener.local_addr()?).await?);
///     let mut server = FuturesIo::new(listener.accept().await?.0);
///     client.write_all(b"hello\n").await?;
///     client.close().await?;
///     let mut lines = Vec::new();
///     let mut line = String::new();
///     while server.read_line(&mut line).await? > 0 {
///         lines.push(std::mem::take(&mut line));
///     }
///     assert_eq!(lines, ["hello\n"]);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct FuturesIo<T> {
    inner: PollIo<T>,
}

adapter_methods!(FuturesIo);

impl<T> futures_io::AsyncRead for FuturesIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut taken = 0;
        let done = self.get_mut().inner.poll_read_with(cx, |bytes| {
            taken = bytes.len().min(buf.len());
            buf[..taken].copy_from_slice(&bytes[..taken]);
            taken
        });
        done.map_ok(|()| taken)
    }
}

impl<T> futures_io::AsyncBufRead for FuturesIo<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().inner.poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().inner.consume(amt);
    }
}

impl<T> futures_io::AsyncWrite for FuturesIo<T> {
    poll_write_methods!();

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().inner.poll_shutdown(cx)
    }
}

/// Never ends: a listener does not run out of connections.
impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Incoming::poll_next(self.get_mut(), cx)
    }
}

/// Never ends; each item is the scheduled instant of the tick.
impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// Ends once every sender is gone and the queue is empty.
impl<T> Stream for mpsc::Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Ends once every sender is gone and the queue is empty.
impl<T> Stream for mpsc::UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Ends at the end of the connection's byte stream (or after an error that ends the receive).
impl Stream for RecvStream {
    type Item = io::Result<RingBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        RecvStream::poll_next(self.get_mut(), cx)
    }
}
