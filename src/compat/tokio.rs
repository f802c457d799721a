//! [`TokioIo`]: tokio's I/O traits over a coring stream (feature `tokio-io`).

use super::stream_io::PollIo;
use super::RingStream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

/// A coring stream as a `tokio::io::AsyncRead + AsyncBufRead + AsyncWrite`, for tokio-util's
/// codecs and other crates written against tokio's I/O traits. See the
/// [module docs](super#the-contract-of-the-io-adapters) for the contract: the adapter owns its
/// buffers and its operations in flight, so a read or write future dropped between polls loses
/// no byte.
///
/// ```
/// use coring::compat::TokioIo;
/// use coring::net::{TcpListener, TcpStream};
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
///
/// coring::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let mut client = TokioIo::new(TcpStream::connect(listener.local_addr()?).await?);
///     let mut server = TokioIo::new(listener.accept().await?.0);
///     client.write_all(b"hello\nworld\n").await?;
///     client.flush().await?;
///     let mut line = String::new();
///     server.read_line(&mut line).await?;
///     assert_eq!(line, "hello\n");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct TokioIo<T> {
    inner: PollIo<T>,
}

adapter_methods!(TokioIo);

impl<T> AsyncRead for TokioIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_into_cursor!(self, cx, buf)
    }
}

impl<T> AsyncBufRead for TokioIo<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().inner.poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().inner.consume(amt);
    }
}

impl<T> AsyncWrite for TokioIo<T> {
    poll_write_methods!();

    /// Vectored writes are gathered in one copy, so callers need not flatten them first.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().inner.poll_shutdown(cx)
    }
}
