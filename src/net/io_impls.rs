//! The owned-buffer I/O traits for sockets, so `BufReader`, `BufWriter` and `copy` work on them.

use super::{OwnedReadHalf, OwnedSend, OwnedWriteHalf, RecvStream, TcpStream};
use crate::buf::{BufResult, IoBuf, IoBufMut, Slice};
use crate::io::{AsyncReadRent, AsyncWriteRent, CutShortMark};
use std::future::{ready, Future};
use std::io;
use std::net::Shutdown;

impl AsyncReadRent for TcpStream {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        TcpStream::read(self, buf)
    }

    fn pooled_receive(&self) -> Option<RecvStream> {
        self.pooled_recv_stream()
    }
}

impl AsyncWriteRent for TcpStream {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        TcpStream::write(self, buf)
    }

    /// A socket buffers nothing in user space.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        ready(Ok(()))
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        TcpStream::shutdown(self, Shutdown::Write)
    }

    /// The writing direction's: a cut-off message fails later writes.
    fn cut_short_mark(&self) -> CutShortMark {
        CutShortMark::new(self.write_loss().clone())
    }

    /// A send on this socket that owns a clone of it, so a `BufWriter` can keep it in flight.
    fn send_owned(&self, buf: Slice<Vec<u8>>) -> Result<OwnedSend, Slice<Vec<u8>>> {
        Ok(OwnedSend::new(self.shared_fd(), self.write_loss(), buf))
    }
}

impl AsyncReadRent for OwnedReadHalf {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        OwnedReadHalf::read(self, buf)
    }

    fn pooled_receive(&self) -> Option<RecvStream> {
        self.stream().pooled_receive()
    }
}

impl AsyncWriteRent for OwnedWriteHalf {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        OwnedWriteHalf::write(self, buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        ready(Ok(()))
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        OwnedWriteHalf::shutdown(self)
    }

    fn cut_short_mark(&self) -> CutShortMark {
        self.stream().cut_short_mark()
    }

    fn send_owned(&self, buf: Slice<Vec<u8>>) -> Result<OwnedSend, Slice<Vec<u8>>> {
        self.stream().send_owned(buf)
    }
}
