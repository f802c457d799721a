//! In-memory readers and writers for the `io` unit tests: they hand bytes over in small, uneven
//! chunks, yield to the runtime on every call (so callers really suspend), and count what moved.

use super::{put_slice, AsyncReadRent, AsyncWriteRent};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use std::collections::HashSet;
use std::io;

/// Serves `data`, at most `chunks[i % chunks.len()]` bytes on the i-th read, then end of stream.
pub(crate) struct ChunkedReader {
    data: Vec<u8>,
    pos: usize,
    chunks: Vec<usize>,
    turn: usize,
    /// Number of reads served.
    pub(crate) reads: usize,
    /// Addresses of the buffers read into, to see whether callers reuse one buffer.
    pub(crate) buffers: HashSet<usize>,
}

impl ChunkedReader {
    pub(crate) fn new(data: impl Into<Vec<u8>>, chunks: &[usize]) -> Self {
        assert!(
            !chunks.is_empty() && !chunks.contains(&0),
            "chunks must be non-zero"
        );
        ChunkedReader {
            data: data.into(),
            pos: 0,
            chunks: chunks.to_vec(),
            turn: 0,
            reads: 0,
            buffers: HashSet::new(),
        }
    }

    /// How many bytes have been read from this reader.
    pub(crate) fn pulled(&self) -> usize {
        self.pos
    }
}

impl AsyncReadRent for ChunkedReader {
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        crate::task::yield_now().await;
        self.reads += 1;
        self.buffers.insert(buf.stable_ptr() as usize);
        let chunk = self.chunks[self.turn % self.chunks.len()];
        self.turn += 1;
        let end = self.data.len().min(self.pos + chunk);
        let n = put_slice(&mut buf, &self.data[self.pos..end]);
        self.pos += n;
        (Ok(n), buf)
    }
}

/// Serves `b'a'` forever, `chunk` bytes per read: a peer sending an endless line.
pub(crate) struct EndlessReader {
    chunk: usize,
    /// Total bytes handed out.
    pub(crate) pulled: usize,
}

impl EndlessReader {
    pub(crate) fn new(chunk: usize) -> Self {
        assert!((1..=FILLER.len()).contains(&chunk));
        EndlessReader { chunk, pulled: 0 }
    }
}

const FILLER: [u8; 4096] = [b'a'; 4096];

impl AsyncReadRent for EndlessReader {
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        crate::task::yield_now().await;
        let n = put_slice(&mut buf, &FILLER[..self.chunk]);
        self.pulled += n;
        (Ok(n), buf)
    }
}

/// Serves `data` in one read, then never completes another: a peer that went quiet, for
/// dropping reads in flight. Needs no runtime.
pub(crate) struct StallingReader {
    data: Vec<u8>,
}

impl StallingReader {
    pub(crate) fn new(data: impl Into<Vec<u8>>) -> Self {
        StallingReader { data: data.into() }
    }

    /// Makes `bytes` available to the next read.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }
}

impl AsyncReadRent for StallingReader {
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        if self.data.is_empty() {
            std::future::pending::<()>().await;
        }
        let n = put_slice(&mut buf, &self.data);
        self.data.drain(..n);
        (Ok(n), buf)
    }
}

/// Collects writes of at most `max_write` bytes each and records every write and flush.
pub(crate) struct ChunkedWriter {
    max_write: usize,
    /// Everything written, in order.
    pub(crate) data: Vec<u8>,
    /// The size of each successful write, in order.
    pub(crate) writes: Vec<usize>,
    /// How many times `flush` was called.
    pub(crate) flushes: usize,
    /// Whether `shutdown` was called.
    pub(crate) shut_down: bool,
    /// Stop accepting bytes once this many were written.
    pub(crate) accept_limit: Option<usize>,
    /// At the limit, return `Ok(0)` instead of a `BrokenPipe` error.
    pub(crate) zero_at_limit: bool,
}

impl ChunkedWriter {
    pub(crate) fn new(max_write: usize) -> Self {
        assert!(max_write > 0);
        ChunkedWriter {
            max_write,
            data: Vec::new(),
            writes: Vec::new(),
            flushes: 0,
            shut_down: false,
            accept_limit: None,
            zero_at_limit: false,
        }
    }
}

impl AsyncWriteRent for ChunkedWriter {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        crate::task::yield_now().await;
        if self.shut_down {
            return (Err(io::ErrorKind::NotConnected.into()), buf);
        }
        let room = match self.accept_limit {
            Some(limit) => limit.saturating_sub(self.data.len()),
            None => usize::MAX,
        };
        let all = buf.slice(..);
        if room == 0 && !all.is_empty() {
            let result = match self.zero_at_limit {
                true => Ok(0),
                false => Err(io::ErrorKind::BrokenPipe.into()),
            };
            return (result, all.into_inner());
        }
        let n = all.len().min(self.max_write).min(room);
        self.data.extend_from_slice(&all[..n]);
        self.writes.push(n);
        (Ok(n), all.into_inner())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.shut_down = true;
        Ok(())
    }
}

/// Deterministic pseudo-random bytes (xorshift), for payloads with no accidental structure.
pub(crate) fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// A writer whose writes never complete: a peer that stopped reading, for dropping writes in
/// flight. Needs no runtime.
pub(crate) struct StallingWriter;

impl AsyncWriteRent for StallingWriter {
    async fn write<B: IoBuf>(&mut self, _buf: B) -> BufResult<usize, B> {
        std::future::pending().await
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Both ends of a conversation with a peer: reads come from `reader`, writes go to `writer`,
/// and each read records how many writes the peer had received before it.
pub(crate) struct Conversation {
    pub(crate) reader: ChunkedReader,
    pub(crate) writer: ChunkedWriter,
    /// `writer.writes.len()` at each read, in order.
    pub(crate) writes_before_read: Vec<usize>,
}

impl AsyncReadRent for Conversation {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        self.writes_before_read.push(self.writer.writes.len());
        self.reader.read(buf).await
    }
}

impl AsyncWriteRent for Conversation {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        self.writer.write(buf).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.writer.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.writer.shutdown().await
    }
}
