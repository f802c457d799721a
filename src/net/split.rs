//! Owned halves of a [`TcpStream`], so one task reads while another writes.

use super::TcpStream;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use socket2::SockRef;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

pub(super) fn split(stream: Rc<TcpStream>) -> (OwnedReadHalf, OwnedWriteHalf) {
    (
        OwnedReadHalf {
            stream: stream.clone(),
        },
        OwnedWriteHalf {
            stream,
            shutdown_on_drop: true,
        },
    )
}

/// The reading half of a [`TcpStream`], from [`TcpStream::into_split`].
///
/// ```
/// use coring::net::{TcpListener, TcpStream};
///
/// coring::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///
///     let (reader, writer) = server.into_split();
///     let echo = coring::spawn(async move {
///         // Reads in this task while another could write through `writer`.
///         let (n, buf) = reader.read(Vec::with_capacity(16)).await;
///         writer.write_all(buf).await.0.map(|()| n)
///     });
///     client.write_all(b"hi".to_vec()).await.0?;
///     let (n, buf) = client.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n?], b"hi");
///     echo.await.unwrap()?.map(drop)
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Rc<TcpStream>,
}

impl OwnedReadHalf {
    /// The whole stream, for the trait impls and the Unix halves beside this module.
    pub(super) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    forward_stream_methods! {
        stream;

        /// As [`TcpStream::read`].
        read => "As [`TcpStream::read`].";

        /// As [`TcpStream::readv`].
        readv => "As [`TcpStream::readv`].";
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Puts the stream back together, if `write` is the other half of this same stream.
    pub fn reunite(self, mut write: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Rc::ptr_eq(&self.stream, &write.stream) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        drop(write);
        Ok(Rc::try_unwrap(self.stream)
            .unwrap_or_else(|_| unreachable!("coring: a stream has exactly two halves")))
    }
}

/// The writing half of a [`TcpStream`], from [`TcpStream::into_split`].
///
/// Dropping it shuts down the writing side of the connection (the peer reads end of stream), as
/// the reading half may keep the socket open for a while.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Rc<TcpStream>,
    shutdown_on_drop: bool,
}

impl OwnedWriteHalf {
    /// The whole stream, for the trait impls and the Unix halves beside this module.
    pub(super) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    forward_stream_methods! {
        stream;

        /// As [`TcpStream::write`].
        write => "As [`TcpStream::write`].";

        /// As [`TcpStream::write_all`].
        write_all => "As [`TcpStream::write_all`].";

        /// As [`TcpStream::writev`].
        writev => "As [`TcpStream::writev`].";
    }

    /// Shuts down the writing side now (the peer reads end of stream).
    ///
    /// # Cancel safety
    ///
    /// As [`TcpStream::shutdown`].
    pub fn shutdown(&self) -> impl Future<Output = io::Result<()>> + use<'_> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // shutdown(2) does not block; the peer may already be gone (ENOTCONN), which is fine.
            let _ = SockRef::from(&*self.stream).shutdown(Shutdown::Write);
        }
    }
}

/// The two halves given to [`OwnedReadHalf::reunite`] came from different streams; they are
/// handed back unchanged.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

error_message!(ReuniteError: "tried to reunite halves of different TCP streams");
