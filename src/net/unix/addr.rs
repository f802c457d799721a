//! Unix socket addresses and peer credentials.

use socket2::{Domain, SockAddr, Socket, Type};
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// The address of a Unix socket: a filesystem path, an abstract name (Linux), or unnamed (a
/// socket that was never bound, such as a connecting client's).
#[derive(Clone)]
pub struct SocketAddr(SockAddr);

impl SocketAddr {
    /// The address the kernel reported. An empty one (`recvmsg` from an unbound sender
    /// reports no address at all, not even the family) is unnamed.
    pub(crate) fn new(addr: SockAddr) -> SocketAddr {
        if addr.len() as usize >= size_of::<libc::sa_family_t>() {
            return SocketAddr(addr);
        }
        SocketAddr(SockAddr::unix("").unwrap_or(addr))
    }

    /// The address of a socket that was never bound.
    pub(crate) fn unnamed() -> io::Result<SocketAddr> {
        Ok(SocketAddr(SockAddr::unix("")?))
    }

    /// Whether the socket has no address (it was never bound).
    pub fn is_unnamed(&self) -> bool {
        self.0.is_unnamed()
    }

    /// The filesystem path, if the address is one.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.0.as_pathname()
    }

    /// The name in the abstract namespace (without the leading `\0`), if the address is one.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        self.0.as_abstract_namespace()
    }
}

impl fmt::Debug for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.as_pathname() {
            write!(f, "{path:?} (pathname)")
        } else if let Some(name) = self.as_abstract_name() {
            write!(f, "\"{}\" (abstract)", name.escape_ascii())
        } else {
            f.write_str("(unnamed)")
        }
    }
}

/// The credentials of the process at the other end of a Unix socket, from
/// [`UnixStream::peer_cred`](super::UnixStream::peer_cred).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UCred {
    pid: i32,
    uid: u32,
    gid: u32,
}

impl UCred {
    pub(crate) fn of(fd: BorrowedFd<'_>) -> io::Result<UCred> {
        let cred = crate::fd::peer_cred(fd)?;
        Ok(UCred {
            pid: cred.pid,
            uid: cred.uid,
            gid: cred.gid,
        })
    }

    /// The peer's process id, if the kernel knows it (it does not for a peer in another pid
    /// namespace it cannot map).
    pub fn pid(&self) -> Option<i32> {
        (self.pid != 0).then_some(self.pid)
    }

    /// The peer's effective user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The peer's effective group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}

/// The socket address for `path`; a first byte `\0` makes it an abstract name. Too long a path
/// is `InvalidInput`, naming it.
pub(super) fn sock_addr(path: &Path) -> io::Result<SockAddr> {
    SockAddr::unix(path).map_err(|err| with_path(err, "using", path))
}

/// A close-on-exec socket of type `ty` bound to `path`, set up further by `then` (say, to
/// listen); errors name the path. An empty path is `InvalidInput`.
pub(super) fn bound_socket(
    path: &Path,
    ty: Type,
    then: impl FnOnce(&Socket) -> io::Result<()>,
) -> io::Result<Socket> {
    if path.as_os_str().is_empty() {
        // Linux would "autobind" to a random abstract name: a listener nobody can find.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "coring: binding a Unix socket to an empty path (for a socket with no name, use \
             UnixDatagram::unbound)",
        ));
    }
    let addr = sock_addr(path)?;
    let bind = || {
        // socket2 creates the socket with SOCK_CLOEXEC on Linux.
        let socket = Socket::new(Domain::UNIX, ty, None)?;
        socket.bind(&addr)?;
        then(&socket)?;
        Ok(socket)
    };
    bind().map_err(|err| with_path(err, "binding", path))
}

/// `err` with what was being done to which path, keeping its kind.
pub(super) fn with_path(err: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("coring: {doing} {path:?}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_say_which_kind_they_are() {
        let path = SocketAddr::new(sock_addr(Path::new("/tmp/x.sock")).unwrap());
        assert_eq!(path.as_pathname(), Some(Path::new("/tmp/x.sock")));
        assert_eq!(format!("{path:?}"), "\"/tmp/x.sock\" (pathname)");
        let name = SocketAddr::new(sock_addr(Path::new("\0svc")).unwrap());
        assert_eq!(name.as_abstract_name(), Some(&b"svc"[..]));
        assert!(name.as_pathname().is_none() && !name.is_unnamed());
        let long = "x".repeat(200);
        let err = sock_addr(Path::new(&long)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("xxxx"), "{err}");
    }
}
