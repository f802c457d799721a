//! [`PollIo`]: a byte stream on the ring driven by `poll_*` calls, the engine under
//! [`TokioIo`](super::TokioIo), [`FuturesIo`](super::FuturesIo) and
//! [`HyperIo`](super::hyper::HyperIo).
//!
//! Poll-based I/O traits lend the caller's memory for one poll only, and the kernel writes
//! after the poll has returned; so the adapter owns the memory the kernel touches, and the
//! operation in flight belongs to the adapter, not to the caller's future:
//!
//! * **Reads** go into the adapter's own buffer (4 KiB at first, doubling each time a read
//!   fills it, up to 64 KiB) and are copied from there into the caller's buffer: one copy, as
//!   with a readiness-based read. A read future dropped between polls leaves its receive in the
//!   adapter; the next read takes its bytes. Nothing is lost.
//! * **Writes** are copied into a gather buffer (up to 64 KiB; past that a write waits) and sent
//!   from it, one send at a time: a write that returned `Ready(n)` has handed its `n` bytes to
//!   the adapter, which sends them in order whatever becomes of the caller's future. `flush`
//!   waits until every accepted byte is sent, `shutdown` flushes then shuts the writing side;
//!   a write after (or during) a shutdown fails with `BrokenPipe`.
//!   A send that fails after its bytes were accepted is reported by the next write, flush or
//!   shutdown, and every write after it fails too.
//!
//! Dropping the adapter with bytes accepted but not flushed drops them, as dropping any
//! buffered writer does: flush first (the codecs and hyper do).

use crate::fd::SharedFd;
use crate::op::fd_only::{shutdown, FdOnly};
use crate::op::keep::Leftover;
use crate::op::loss::{LossFlag, Tracked};
use crate::op::recv::{recv, Recv};
use crate::op::send::{send, Send};
use crate::op::Op;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The first read buffer; it doubles each time a read fills it.
const FIRST_READ: usize = 4 * 1024;
/// The largest read buffer.
const MAX_READ: usize = 64 * 1024;
/// Bytes a writer accepts before a write waits for the send in flight.
const MAX_GATHER: usize = 64 * 1024;

/// A stream the compat adapters can drive: its socket and the loss flags of its two
/// directions (see [`crate::op::loss`]), so adapter ops keep the stream's cancellation rules.
pub(crate) struct Parts {
    pub(crate) fd: SharedFd,
    pub(crate) read_loss: LossFlag,
    pub(crate) write_loss: LossFlag,
}

/// The read and write state of one adapted stream.
pub(crate) struct PollIo<T> {
    io: T,
    fd: SharedFd,
    reader: Reader,
    writer: Writer,
}

struct Reader {
    loss: LossFlag,
    /// Received bytes; `buf[pos..]` are not consumed yet.
    buf: Vec<u8>,
    pos: usize,
    /// The next receive's buffer size.
    size: usize,
    op: Option<Op<Tracked<Recv<Vec<u8>>>>>,
}

struct Writer {
    loss: LossFlag,
    /// Accepted bytes not yet handed to a send; they go after those in flight.
    gather: Vec<u8>,
    /// The buffer of the last finished send, reused as the next gather buffer.
    spare: Vec<u8>,
    op: Option<Op<Tracked<Send<Vec<u8>>>>>,
    /// Why writing stopped, for good: a send failed after its bytes were accepted.
    broken: Option<(io::ErrorKind, String)>,
    shutdown: Option<Op<FdOnly>>,
    shut: bool,
}

// The wrapped stream is never pinned: the adapters only hand out `&T`.
impl<T> Unpin for PollIo<T> {}

impl<T> PollIo<T> {
    pub(crate) fn new(io: T, parts: Parts) -> Self {
        PollIo {
            io,
            fd: parts.fd,
            reader: Reader {
                loss: parts.read_loss,
                buf: Vec::new(),
                pos: 0,
                size: FIRST_READ,
                op: None,
            },
            writer: Writer {
                loss: parts.write_loss,
                gather: Vec::new(),
                spare: Vec::new(),
                op: None,
                broken: None,
                shutdown: None,
                shut: false,
            },
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// The stream back. Bytes the adapter holds (received and not read, accepted and not
    /// sent) cannot go back into the socket: the stream then fails its next read (or write)
    /// with its loss error instead of carrying on with a gap. Ops in flight are cancelled as
    /// the stream's own are, with the same rule.
    pub(crate) fn into_inner(self) -> T {
        if self.reader.pos < self.reader.buf.len() {
            self.reader.loss.set();
        }
        // A send in flight holds accepted bytes too: cancelling it may move none, and the
        // loss watch only records bytes that moved, so a gap would go unnoticed.
        if !self.writer.gather.is_empty() || self.writer.op.is_some() {
            self.writer.loss.set();
        }
        self.io
    }

    /// The received bytes not consumed yet, receiving more if there are none; empty at the end
    /// of the stream.
    pub(crate) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let reader = &mut self.reader;
        while reader.pos >= reader.buf.len() {
            let op = match &mut reader.op {
                Some(op) => op,
                None => {
                    ready!(reader.loss.poll_ready(cx, "read"))?;
                    let mut buf = std::mem::take(&mut reader.buf);
                    reader.pos = 0;
                    buf.clear();
                    buf.reserve_exact(reader.size);
                    reader
                        .op
                        .insert(reader.loss.track(recv(&self.fd, buf, Leftover::Stream)))
                }
            };
            let (result, buf) = ready!(Pin::new(op).poll(cx));
            reader.op = None;
            reader.buf = buf;
            reader.pos = 0;
            match result {
                Ok(0) => return Poll::Ready(Ok(&[])),
                Ok(n) => {
                    if n == reader.buf.capacity() && reader.size < MAX_READ {
                        reader.size *= 2;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        Poll::Ready(Ok(&reader.buf[reader.pos..]))
    }

    /// Marks `n` bytes of [`poll_fill_buf`](Self::poll_fill_buf)'s as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        let reader = &mut self.reader;
        reader.pos = reader.buf.len().min(reader.pos + n);
    }

    /// Reads into `put`, which takes a slice of received bytes and returns how many it took.
    pub(crate) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        put: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<io::Result<()>> {
        let taken = put(ready!(self.poll_fill_buf(cx))?);
        self.consume(taken);
        Poll::Ready(Ok(()))
    }

    /// Accepts bytes from `bufs`, in order, up to the gather limit; waits only when the
    /// gather buffer is full.
    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let writer = &mut self.writer;
        writer.check()?;
        if writer.shut || writer.shutdown.is_some() {
            // Accepting bytes that can never be sent would break the `Ready(n)` promise.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "coring: write after the writing side was shut down",
            )));
        }
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        // Takes in a finished send (its buffer becomes the spare) and reports its failure; a
        // full gather buffer waits for the send in flight.
        loop {
            match writer.poll_sent(&self.fd, cx) {
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending if writer.gather.len() >= MAX_GATHER => return Poll::Pending,
                _ => {}
            }
            if writer.gather.len() < MAX_GATHER {
                break;
            }
            ready!(writer.start(&self.fd, cx))?;
        }
        let room = MAX_GATHER.saturating_sub(writer.gather.len());
        let mut accepted = 0;
        for buf in bufs {
            let take = buf.len().min(room - accepted);
            writer.gather.extend_from_slice(&buf[..take]);
            accepted += take;
            if accepted == room {
                break;
            }
        }
        // Bytes go out without waiting for a flush, as with a plain socket: a send is started
        // now if none is in flight (a failure to start is reported by the next call).
        if writer.op.is_none() {
            if let Poll::Ready(Ok(())) = writer.start(&self.fd, cx) {
                let _ = writer.poll_sent(&self.fd, cx);
            }
        }
        Poll::Ready(Ok(accepted))
    }

    /// Waits until every accepted byte has been sent.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let writer = &mut self.writer;
        writer.check()?;
        loop {
            ready!(writer.poll_sent(&self.fd, cx))?;
            if writer.gather.is_empty() {
                return Poll::Ready(Ok(()));
            }
            ready!(writer.start(&self.fd, cx))?;
        }
    }

    /// Flushes, then shuts down the writing side (the peer reads the end of the stream). A
    /// connection the peer already reset counts as shut down.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.writer.shut {
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_flush(cx))?;
        let writer = &mut self.writer;
        let op = writer
            .shutdown
            .get_or_insert_with(|| shutdown(&self.fd, std::net::Shutdown::Write));
        let result = match ready!(Pin::new(op).poll(cx)) {
            // The connection is already gone (the peer reset it): nothing is left to shut.
            Err(err) if err.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
            other => other,
        };
        writer.shutdown = None;
        writer.shut = result.is_ok();
        Poll::Ready(result)
    }
}

impl Writer {
    /// Fails if an earlier accepted write could not be sent.
    fn check(&self) -> io::Result<()> {
        match &self.broken {
            Some((kind, why)) => Err(io::Error::new(
                *kind,
                format!("coring: an earlier write could not be sent ({why}); the stream is broken"),
            )),
            None => Ok(()),
        }
    }

    /// Hands the gather buffer to a new send (the caller made sure none is in flight).
    fn start(&mut self, fd: &SharedFd, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.loss.poll_ready(cx, "write"))?;
        let next = std::mem::replace(&mut self.gather, std::mem::take(&mut self.spare));
        self.op = Some(self.loss.track(send(fd, next)));
        Poll::Ready(Ok(()))
    }

    /// Drives the send in flight to its end (resending what a short send left); `Ready(Ok)`
    /// when none is in flight.
    fn poll_sent(&mut self, fd: &SharedFd, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(op) = &mut self.op {
            let (result, mut buf) = ready!(Pin::new(op).poll(cx));
            self.op = None;
            let sent = match result {
                Ok(0) => Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => Ok(n),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(0),
                Err(err) => Err(err),
            };
            let sent = match sent {
                Ok(sent) => sent,
                Err(err) => {
                    self.broken = Some((err.kind(), err.to_string()));
                    self.gather.clear();
                    return Poll::Ready(Err(err));
                }
            };
            if sent == buf.len() {
                buf.clear();
                self.spare = buf;
                continue;
            }
            // A short send (the socket's buffer is full): the rest goes first, then what was
            // gathered meanwhile. Rare, so the copy does not matter.
            buf.drain(..sent);
            buf.extend_from_slice(&self.gather);
            self.gather.clear();
            self.spare = std::mem::replace(&mut self.gather, buf);
            ready!(self.start(fd, cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PollIo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollIo")
            .field("io", &self.io)
            .field("buffered_read", &(self.reader.buf.len() - self.reader.pos))
            .field("unsent", &self.writer.gather.len())
            .finish()
    }
}
