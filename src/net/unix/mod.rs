//! Unix domain sockets on the ring: [`UnixListener`], [`UnixStream`] and [`UnixDatagram`].
//!
//! They work as their TCP and UDP counterparts do (owned buffers, `&self` methods, setup with
//! plain non-blocking system calls and every wait on the ring), addressed by a filesystem path
//! instead of an IP address. Beyond that they offer what only Unix sockets can:
//!
//! * **abstract names** (Linux): a path whose first byte is `\0` names a socket in the abstract
//!   namespace, which has no file, needs no cleanup and disappears with the last socket bound
//!   to it; see [`SocketAddr::as_abstract_name`];
//! * **peer credentials**: [`UnixStream::peer_cred`] says which process, user and group is at the
//!   other end (`SO_PEERCRED`), as the kernel recorded them when the connection was made;
//! * **descriptor passing** (`SCM_RIGHTS`): [`UnixStream::send_with_fds`] sends open file
//!   descriptors along with bytes, and [`UnixStream::recv_with_fds`] receives them as
//!   [`OwnedFd`](std::os::fd::OwnedFd)s (close-on-exec), both through `sendmsg`/`recvmsg` on the
//!   ring. The control buffer, the iovec and the descriptors being sent belong to the operation
//!   until the kernel has finished with it, even if its future is dropped; descriptors that
//!   arrive for a dropped receive are closed.
//!
//! Binding does not remove an existing file: binding a path that exists is `AddrInUse`, and a
//! listener leaves its socket file behind when dropped (as `std`'s does); remove it with
//! [`std::fs::remove_file`] or use an abstract name. Errors about a path name the path.
//!
//! ```
//! use coring::net::{UnixListener, UnixStream};
//!
//! coring::block_on(async {
//!     let name = format!("\0coring-doc-{}", std::process::id()); // abstract: no file to clean up
//!     let listener = UnixListener::bind(&name)?;
//!     let client = coring::spawn(async move {
//!         let stream = UnixStream::connect(&name).await?;
//!         stream.write_all(b"ping".to_vec()).await.0
//!     });
//!     let (stream, _peer) = listener.accept().await?;
//!     let (n, buf) = stream.read(Vec::with_capacity(16)).await;
//!     assert_eq!(&buf[..n?], b"ping");
//!     assert_eq!(stream.peer_cred()?.pid(), Some(std::process::id() as i32));
//!     client.await.unwrap()
//! })?;
//! # std::io::Result::Ok(())
//! ```

mod addr;
mod datagram;
mod listener;
mod split;
mod stream;

pub use addr::{SocketAddr, UCred};
pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};
pub use stream::UnixStream;
