//! Owned halves of a [`UnixStream`], so one task reads while another writes.
//!
//! They wrap the TCP halves, which hold the shared stream machinery (see `stream.rs`).

use super::{UCred, UnixStream};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::net::{self, TcpStream};
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub(super) fn split(stream: TcpStream) -> (OwnedReadHalf, OwnedWriteHalf) {
    let (read, write) = stream.into_split();
    (
        OwnedReadHalf { inner: read },
        OwnedWriteHalf { inner: write },
    )
}

/// The reading half of a [`UnixStream`], from [`UnixStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: net::OwnedReadHalf,
}

impl OwnedReadHalf {
    forward_stream_methods! {
        inner;

        /// As [`UnixStream::read`].
        read => "As [`UnixStream::read`].";

        /// As [`UnixStream::readv`].
        readv => "As [`UnixStream::read`].";
    }

    /// As [`UnixStream::recv_with_fds`].
    ///
    /// # Cancel safety
    ///
    /// As [`UnixStream::recv_with_fds`].
    pub fn recv_with_fds<B: IoBufMut>(
        &self,
        buf: B,
        max_fds: usize,
    ) -> impl Future<Output = BufResult<(usize, Vec<OwnedFd>), B>> + use<'_, B> {
        super::stream::recv_with_fds(self.inner.stream(), buf, max_fds)
    }

    /// As [`UnixStream::peer_cred`].
    pub fn peer_cred(&self) -> io::Result<UCred> {
        UCred::of(self.inner.stream().as_fd())
    }

    /// Puts the stream back together, if `write` is the other half of this same stream.
    pub fn reunite(self, write: OwnedWriteHalf) -> Result<UnixStream, ReuniteError> {
        match self.inner.reunite(write.inner) {
            Ok(stream) => Ok(UnixStream::from_inner(stream)),
            Err(net::ReuniteError(read, write)) => Err(ReuniteError(
                OwnedReadHalf { inner: read },
                OwnedWriteHalf { inner: write },
            )),
        }
    }
}

/// The writing half of a [`UnixStream`], from [`UnixStream::into_split`].
///
/// Dropping it shuts down the writing side of the connection (the peer reads end of stream).
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: net::OwnedWriteHalf,
}

impl OwnedWriteHalf {
    forward_stream_methods! {
        inner;

        /// As [`UnixStream::write`].
        write => "As [`UnixStream::write`].";

        /// As [`UnixStream::write_all`].
        write_all => "As [`UnixStream::write_all`].";

        /// As [`UnixStream::writev`].
        writev => "As [`UnixStream::write`].";
    }

    /// As [`UnixStream::send_with_fds`].
    ///
    /// # Cancel safety
    ///
    /// As [`UnixStream::send_with_fds`].
    pub fn send_with_fds<'a, B: IoBuf>(
        &'a self,
        buf: B,
        fds: &'a [BorrowedFd<'a>],
    ) -> impl Future<Output = BufResult<usize, B>> + use<'a, B> {
        super::stream::send_with_fds(self.inner.stream(), buf, fds)
    }

    /// As [`UnixStream::peer_cred`].
    pub fn peer_cred(&self) -> io::Result<UCred> {
        UCred::of(self.inner.stream().as_fd())
    }

    /// Shuts down the writing side now (the peer reads end of stream).
    ///
    /// # Cancel safety
    ///
    /// Dropped, the shutdown may or may not have happened.
    pub fn shutdown(&self) -> impl Future<Output = io::Result<()>> + use<'_> {
        self.inner.shutdown()
    }
}

/// The two halves given to [`OwnedReadHalf::reunite`] came from different streams; they are
/// handed back unchanged.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

error_message!(ReuniteError: "tried to reunite halves of different Unix streams");

forward_rent_io!(read: OwnedReadHalf => inner);
forward_rent_io!(write: OwnedWriteHalf => inner);
