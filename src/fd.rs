//! `SharedFd`: a file descriptor that stays open while any operation on it is in flight.
//!
//! Every op on a socket holds a clone, so a socket dropped by its owner while a read is in flight
//! (say, a cancelled accept or recv) is closed only after the kernel has finished with that read;
//! the fd number cannot be reused under the kernel's feet (hazard H10 in `docs/HAZARDS.md`).

use io_uring::types;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// A reference-counted fd, closed when the last clone goes.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fd: RawFd,
    /// Close with close(2) when the last clone goes, rather than with the ring's next
    /// submission: for sockets whose closing others observe at once (a listener's port is
    /// free to bind again, and it accepts no more connections).
    close_at_once: bool,
}

impl SharedFd {
    /// An fd closed through the ring, batched with the loop turn's other submissions.
    pub(crate) fn new(fd: OwnedFd) -> Self {
        Self::with_close(fd, false)
    }

    /// An fd closed at once when the last clone goes (see `Inner::close_at_once`).
    pub(crate) fn new_closed_at_once(fd: OwnedFd) -> Self {
        Self::with_close(fd, true)
    }

    fn with_close(fd: OwnedFd, close_at_once: bool) -> Self {
        // The epoll backend needs every fd it waits on non-blocking. Failing that, ops on this
        // fd could block the core, so say so once rather than run on.
        if let Some(Err(err)) =
            crate::driver::try_with_current(|driver| driver.adopt_fd(fd.as_raw_fd()))
        {
            eprintln!("{err}");
        }
        SharedFd {
            inner: Rc::new(Inner {
                fd: fd.into_raw_fd(),
                close_at_once,
            }),
        }
    }

    /// The fd itself if this is the last clone (no op holds it), else `self` back.
    pub(crate) fn try_unwrap(self) -> Result<OwnedFd, SharedFd> {
        let inner = Rc::try_unwrap(self.inner).map_err(|inner| SharedFd { inner })?;
        let fd = inner.fd;
        // The fd leaves coring: a readiness registration must not outlive it here.
        crate::driver::try_with_current(|driver| driver.release_fd(fd));
        // `Inner::drop` would close the fd: ownership moves to the OwnedFd instead.
        std::mem::forget(inner);
        // SAFETY: the fd came from an OwnedFd in `new`, and `Inner` (forgotten above) was its
        // only owner, so nothing else will close it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd
    }

    /// The fd as the kernel sees it in a submission entry.
    pub(crate) fn types_fd(&self) -> types::Fd {
        types::Fd(self.inner.fd)
    }

    /// Borrows the fd as a `socket2::SockRef`-compatible handle for socket options.
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the fd is open for as long as `self.inner` lives, which outlives the borrow.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.inner.fd) }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let fd = self.fd;
        // Closing through the ring batches the close with the turn's other submissions. If no
        // runtime is current, or its driver is busy (we are inside it), close synchronously:
        // close(2) on a socket does not block unless SO_LINGER was set.
        let queued = !self.close_at_once
            && crate::driver::try_with_current(|driver| driver.close_fd(fd).is_ok()) == Some(true);
        if !queued {
            // A socket closed at once (or with the driver busy) must not stay registered.
            if self.close_at_once {
                crate::driver::try_with_current(|driver| driver.release_fd(fd));
            }
            // SAFETY: we own the fd (taken from an OwnedFd) and nothing else closes it.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

/// The credentials of the process at the other end of a Unix socket (`SO_PEERCRED`): as they
/// were when it connected (or when the pair was made).
pub(crate) fn peer_cred(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are live locals of the sizes passed; the kernel writes at most
    // `len` bytes and the fd is borrowed, so open, for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred)
}
