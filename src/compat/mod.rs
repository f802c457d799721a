//! Adapters to the poll-based I/O traits of other ecosystems, each behind its feature:
//!
//! | feature | what |
//! |---|---|
//! | `tokio-io` | [`TokioIo`]: `tokio::io::AsyncRead`, `AsyncBufRead` and `AsyncWrite`, so tokio-util's codecs and anything written against tokio's traits work on coring's streams |
//! | `futures-io` | [`FuturesIo`]: `futures_io::AsyncRead`, `AsyncBufRead` and `AsyncWrite`; and `futures_core::Stream` for [`Incoming`](crate::net::Incoming), [`Interval`](crate::time::Interval), the [`mpsc::Receiver`](crate::sync::mpsc::Receiver) and [`UnboundedReceiver`](crate::sync::mpsc::UnboundedReceiver), and [`RecvStream`](crate::net::RecvStream) (the multishot receive) |
//! | `hyper` | [`hyper::HyperIo`], [`hyper::HyperExecutor`] and [`hyper::HyperTimer`]: hyper 1.x servers and clients on coring |
//!
//! # The contract of the I/O adapters
//!
//! Poll-based traits lend the caller's buffer for one poll, but io_uring writes into memory
//! after the call that started the operation has returned. So the adapters own what the kernel
//! touches, and the operation in flight belongs to the adapter, not to the caller's future:
//!
//! * **A read future dropped between polls loses no byte.** The receive it started stays in
//!   the adapter, and the next read gets its bytes. Reads land in the adapter's buffer (4 KiB,
//!   doubling each time a read fills it, up to 64 KiB) and are copied once into the caller's.
//! * **A write that returned `Ready(n)` has handed its `n` bytes over**: the adapter sends them,
//!   in order, whatever becomes of the caller's future. Writes are gathered (up to 64 KiB, then
//!   a write waits) and sent at once, one send in flight at a time, without waiting for a
//!   flush; `poll_flush` waits until every accepted byte is sent, and `poll_shutdown` flushes
//!   then shuts the writing side down (the peer reads the end of the stream; a connection the peer
//!   already reset counts as shut, not as an error). A write after a shutdown fails with
//!   `BrokenPipe` at once, as on a plain socket.
//! * A send that fails after its bytes were accepted is reported by the next write, flush or
//!   shutdown, and the writing side stays broken.
//! * Dropping an adapter with accepted bytes not yet flushed drops them, as dropping any
//!   buffered writer does (codecs and hyper flush). `into_inner` gives the stream back; if the
//!   adapter still held bytes (including those of a send still in flight), the stream's next
//!   read (or write) fails with its loss error instead of skipping them silently.
//! * An adapter and its futures stay on the worker that made them, like every coring socket.

/// The inherent methods every adapter has (`new`, `get_ref`, `into_inner`), forwarding to its
/// [`PollIo`](stream_io::PollIo): one definition, so the adapters cannot drift apart.
macro_rules! adapter_methods {
    ($adapter:ident) => {
        impl<T: RingStream> $adapter<T> {
            /// Wraps `stream`.
            pub fn new(stream: T) -> Self {
                let parts = stream.parts();
                $adapter {
                    inner: PollIo::new(stream, parts),
                }
            }
        }

        impl<T> $adapter<T> {
            /// The wrapped stream (for its address or socket options).
            pub fn get_ref(&self) -> &T {
                self.inner.get_ref()
            }

            /// The wrapped stream back. Bytes the adapter still holds (received and not read,
            /// written and not flushed) cannot be put back: if there were any, the stream's
            /// next read (or write) fails with its loss error rather than skip them silently.
            /// Flush first.
            pub fn into_inner(self) -> T {
                self.inner.into_inner()
            }
        }
    };
}

/// `poll_write`, `poll_write_vectored` and `poll_flush`, which every ecosystem's write trait
/// has with the same signatures, forwarding to the adapter's `PollIo`.
macro_rules! poll_write_methods {
    () => {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut()
                .inner
                .poll_write_vectored(cx, &[io::IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().inner.poll_write_vectored(cx, bufs)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().inner.poll_flush(cx)
        }
    };
}

/// The body of a `poll_read` into a cursor that has `remaining()` and `put_slice()` (tokio's
/// `ReadBuf`, hyper's `ReadBufCursor`): a full cursor reads nothing, as the traits ask.
macro_rules! poll_read_into_cursor {
    ($this:expr, $cx:expr, $buf:expr) => {{
        if $buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        $this.get_mut().inner.poll_read_with($cx, |bytes| {
            let n = bytes.len().min($buf.remaining());
            $buf.put_slice(&bytes[..n]);
            n
        })
    }};
}

#[cfg(feature = "futures-io")]
mod futures;
#[cfg(feature = "hyper")]
pub mod hyper;
mod stream_io;
#[cfg(feature = "tokio-io")]
mod tokio;

#[cfg(feature = "futures-io")]
pub use self::futures::FuturesIo;
#[cfg(feature = "tokio-io")]
pub use self::tokio::TokioIo;

use crate::net::TcpStream;
use stream_io::Parts;

/// A byte stream the adapters of this module can wrap: today [`TcpStream`] (Unix streams will
/// join it). Sealed: its one method is the crate's business.
pub trait RingStream: sealed::Sealed {}

mod sealed {
    /// Gives the adapters the stream's socket and loss flags.
    pub trait Sealed {
        #[doc(hidden)]
        #[allow(private_interfaces)]
        fn parts(&self) -> super::Parts;
    }
}

impl RingStream for TcpStream {}

impl sealed::Sealed for TcpStream {
    #[allow(private_interfaces)]
    fn parts(&self) -> Parts {
        Parts {
            fd: self.shared_fd().clone(),
            read_loss: self.read_loss().clone(),
            write_loss: self.write_loss().clone(),
        }
    }
}
