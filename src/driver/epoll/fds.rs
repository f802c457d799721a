//! The readiness backend's fd table: which fds epoll watches, and which ops wait on each.
//!
//! Where it sits: an op's attempt (`op_future.rs`, `attempt`) asks [`Epoll::may_be_ready`]
//! before its syscall and [`Epoll::wait`] after an `EAGAIN`; `Epoll::park` (`mod.rs`) turns
//! events into wakers through the same table; `SharedFd` (`src/fd.rs`) tells it when an fd
//! closes or leaves coring ([`Epoll::close`], [`Epoll::forget`]).
//!
//! # The table
//!
//! Indexed by fd number: whether the fd is registered, and the wakers of ops waiting to read and
//! to write. Registration is edge-triggered (`EPOLLET`), so after an op saw `EAGAIN` any new
//! readiness produces an event at the next `epoll_wait`. A registration must go when its fd is
//! closed, or a new fd given the same number would be thought registered and never report:
//! `SharedFd` closes through [`Epoll::close`] and gives fds away through [`Epoll::forget`].
//!
//! Why edge-triggered, with one registration for both directions: level-triggered would report
//! a readable socket on every `epoll_wait` until some op reads it, spinning the loop while no
//! task wants the data; per-wait re-arming (`EPOLLONESHOT`) costs an `epoll_ctl` per wait. With
//! `EPOLLET` the fd is added once and an event comes only on a change, which is enough because
//! an op only waits after its own syscall saw `EAGAIN`: any readiness after that is a change.
//! The price is the bookkeeping of `drained`, `read_closed` and `short_reads_drain` below, for
//! reads that skip their syscall (see [`Epoll::may_be_ready`]).

use super::wakers::Wakers;
use super::Epoll;
use crate::driver::fork;
use crate::driver::opcode::Interest;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::task::Waker;

/// The ops waiting on one fd, and what epoll last said about it.
///
/// Every flag describes the fd *number* while one open file holds it: all are cleared by
/// [`Epoll::forget`] (which every close and hand-over goes through), so a new fd given the
/// same number starts from nothing (hazard H10 in `docs/HAZARDS.md`).
#[derive(Default)]
pub(super) struct Waiters {
    /// In the epoll set (added with `EPOLL_CTL_ADD` at the first wait, removed by `forget`).
    /// While set, every readiness change of the fd produces an event, so `drained` can be
    /// trusted; while clear, no event comes and a read must try its syscall.
    pub(super) registered: bool,
    /// Made non-blocking by this runtime (cleared when the fd is closed or given away).
    pub(super) nonblocking: bool,
    /// Found drained by a stream read (`Performed::Drained`) and not reported readable since:
    /// a read may wait without trying. Only set while registered, so an event clears it.
    pub(super) drained: bool,
    /// The peer closed its side (or the fd failed), as epoll reported: sticky, because a read
    /// finding no data still returns at once (end of stream, or the error), so the fd is never
    /// "drained" again and no further edge would come to say so.
    pub(super) read_closed: bool,
    /// A short read may be taken as "drained": a TCP socket that has not reported urgent data.
    /// Set at registration. A TCP read stops short at the urgent mark, and a Unix stream read
    /// after bytes that carried fds (or came from another writer), with more bytes queued and
    /// no new edge to come, so neither may skip its next syscall. Only stream reads report a
    /// short read (`Performed::Drained`), but any socket can be read as a stream (a UDP socket
    /// wrapped as a `TcpStream`): a datagram shorter than the buffer says nothing of the next.
    pub(super) short_reads_drain: bool,
    /// Ops waiting to read (or accept); all woken by one readable event, each retries its
    /// syscall and the losers wait again. Usually one (a stream's reader, kept inline: an idle
    /// connection's wait allocates nothing), but several tasks accepting on one listener, or
    /// receiving on one UDP socket, wait on the same fd.
    pub(super) read: Wakers,
    /// Ops waiting to write (or for a connect to finish). Apart from `read` so an event for
    /// one direction wakes only that direction's ops: a socket that turns readable does not
    /// send every blocked writer back to a syscall that would say `EAGAIN` again.
    pub(super) write: Wakers,
}

impl Epoll {
    /// Wakes `waker` once `fd` may be ready for `interest`: the op saw `EAGAIN` just now.
    ///
    /// No readiness is lost between that `EAGAIN` and this call, though the fd is edge-triggered:
    /// if the fd is not yet in the set, `EPOLL_CTL_ADD` checks its state and reports it at once
    /// if ready; if it is, an edge that came meanwhile is only read by the next `epoll_wait`,
    /// which `park` runs after this poll returns, when the waker is already in the list (one
    /// thread: nothing runs between the two).
    ///
    /// The key of the registration is the fd number: `park` finds the `Waiters` by index, and
    /// `forget` takes the fd out of the set before its number can be reused.
    pub(crate) fn wait(&mut self, fd: RawFd, interest: Interest, waker: &Waker) -> io::Result<()> {
        if self.shut_down {
            return Err(super::super::shutting_down());
        }
        if fork::forked_since(self.forks) {
            // The epoll instance is shared with the parent: registering here would steal its events.
            return Err(fork::inherited_error());
        }
        let index = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if self.fds.len() <= index {
            self.fds.resize_with(index + 1, Waiters::default);
        }
        if !self.fds[index].registered {
            let events = (libc::EPOLLIN
                | libc::EPOLLOUT
                | libc::EPOLLRDHUP
                | libc::EPOLLPRI
                | libc::EPOLLET) as u32;
            match self.ctl(libc::EPOLL_CTL_ADD, fd, events, index as u64) {
                Ok(()) => {}
                // Still in the set from before (a registration the table had forgotten).
                Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {}
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("coring: cannot watch fd {fd} for readiness with epoll: {err}"),
                    ))
                }
            }
            self.fds[index].registered = true;
            self.fds[index].short_reads_drain = is_tcp(fd);
        }
        let waiters = &mut self.fds[index];
        // A task re-polled while it waits (woken by something else) is not added again: the
        // list would grow by one waker per spurious poll (`Wakers::add`).
        match interest {
            Interest::Read => waiters.read.add(waker),
            Interest::Write => waiters.write.add(waker),
        }
        Ok(())
    }

    /// Makes `fd` non-blocking unless this runtime already did.
    ///
    /// Remembered per fd so the `ioctl` runs once per fd, not once per op (accept and connect
    /// ask on every first poll, see `OpCode::blocking_fd`). A blocking fd here would stall the
    /// whole core in the op's syscall, every task with it.
    pub(crate) fn ensure_nonblocking(&mut self, fd: RawFd) -> io::Result<()> {
        let index = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if self.fds.len() <= index {
            self.fds.resize_with(index + 1, Waiters::default);
        }
        if !self.fds[index].nonblocking {
            set_nonblocking(fd)?;
            self.fds[index].nonblocking = true;
        }
        Ok(())
    }

    /// Takes in an fd coring now owns: any entry under its number is stale, left by an fd closed
    /// where this runtime could not see it (dropped outside `block_on`, or under another
    /// runtime), and would make the new one be thought non-blocking and registered.
    pub(crate) fn adopt(&mut self, fd: RawFd) -> io::Result<()> {
        self.forget(fd);
        self.ensure_nonblocking(fd)
    }

    /// Whether an op on `fd` should try its syscall: false only for a read on a registered fd
    /// found drained and not reported readable since.
    ///
    /// What this saves is the `recv` that would only say `EAGAIN`: a reader that took all there
    /// was goes straight to waiting. It errs towards trying: an unknown fd, a write, or a fd
    /// whose last read did not prove it drained all say "try".
    #[inline]
    pub(crate) fn may_be_ready(&self, fd: RawFd, interest: Interest) -> bool {
        let Some(waiters) = usize::try_from(fd).ok().and_then(|i| self.fds.get(i)) else {
            return true;
        };
        !(interest == Interest::Read && waiters.registered && waiters.drained)
    }

    /// A stream read came back short on the registered `fd`: drained, if short reads prove it
    /// there (`short_reads_drain`); see [`Epoll::may_be_ready`].
    #[inline]
    pub(crate) fn drained(&mut self, fd: RawFd) {
        if let Some(waiters) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) {
            waiters.drained =
                waiters.registered && waiters.short_reads_drain && !waiters.read_closed;
        }
    }

    /// Forgets `fd`'s registration: it is about to be closed or leaves coring's hands.
    ///
    /// Explicitly, with `EPOLL_CTL_DEL`, although closing the last descriptor of a file takes it
    /// out of the set by itself: a `dup` of the fd (a `try_clone`, a child's inherited copy)
    /// keeps the file open and its registration alive, still reporting under this number.
    pub(crate) fn forget(&mut self, fd: RawFd) {
        let Some(waiters) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) else {
            return;
        };
        if !waiters.registered {
            waiters.nonblocking = false;
            return;
        }
        waiters.nonblocking = false;
        waiters.drained = false;
        waiters.read_closed = false;
        waiters.short_reads_drain = false;
        waiters.registered = false;
        // Waiters left belong to dropped ops (a live op keeps its fd open): they are woken,
        // harmlessly, and dropped after the borrow like every other waker.
        waiters.read.release_into(&mut self.woken);
        waiters.write.release_into(&mut self.woken);
        // Failure means the fd was never or is no longer in the set; nothing to undo either way.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Closes `fd` now, forgetting its registration first. At once, not batched: there is no
    /// ring to batch into. Forgetting first matters: a number
    /// closed while still in the table could be handed to the next `open` and inherit it.
    pub(crate) fn close(&mut self, fd: RawFd) {
        self.forget(fd);
        // SAFETY: the caller owned `fd` (the last `SharedFd` clone) and hands it over to close.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// Whether `fd` is a TCP socket (asked once, when it is registered): see `short_reads_drain`.
/// The protocol, not only the domain: safe code can wrap any socket as a `TcpStream`
/// (`From<OwnedFd>`), and a UDP socket read as a stream reads one datagram at a time, so its
/// short read says nothing of the next. A stream socket of another family (Unix) is the other
/// case where a short read does not prove the fd drained.
fn is_tcp(fd: RawFd) -> bool {
    let inet = matches!(
        socket_option(fd, libc::SO_DOMAIN),
        Some(libc::AF_INET | libc::AF_INET6)
    );
    inet && socket_option(fd, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP)
}

/// An int-valued `SOL_SOCKET` option of `fd`; `None` if it cannot be read (not a socket).
fn socket_option(fd: RawFd, option: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the option writes one c_int into the live local `value`, at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(value)
}

/// Makes `fd` non-blocking, so the readiness backend's syscalls on it never block the core.
/// `FIONBIO` rather than `fcntl(F_SETFL)`: one call instead of a read-modify-write of the
/// file's status flags. The flag is on the open file, so it is shared with any `dup` of it.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let mut on: libc::c_int = 1;
    // SAFETY: FIONBIO reads one c_int from the live local `on`; `fd` is open (the caller owns it).
    let rc = unsafe { libc::ioctl(fd, libc::FIONBIO, &mut on) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("coring: cannot make fd {fd} non-blocking for epoll: {err}"),
        ));
    }
    Ok(())
}
