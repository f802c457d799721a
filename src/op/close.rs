//! `CLOSE`: close an fd through the ring and report the result (a file's delayed write-back
//! error surfaces here, as from `close(2)`).
//!
//! The op owns the fd. Once the kernel has run the close, the fd is released whatever the
//! result (Linux frees the descriptor even when `close` reports an error, `EINTR` included), so
//! `complete` and `dispose` forget it rather than close it twice: its number may already name
//! another file. Two answers mean the close never ran and the fd is still open, owned by this
//! op alone: the driver's own refusal (the entry never reached the kernel: the runtime was
//! shutting down) and `ECANCELED`. The kernel hands a close of a file whose filesystem has a
//! `flush` method (FUSE, NFS, overlayfs, POSIX message queues) to a worker thread, and a cancel
//! that finds it still queued there ends it unrun: a dropped close future's cancel, shutdown's
//! cancel of every op, a cancelling scope's. Either way the op then closes the fd itself, with
//! `close(2)`, since nothing else ever would.
//!
//! (A filesystem's `flush` could itself fail with `ECANCELED` after the fd was released: a FUSE
//! server may answer a flush with any errno. The kernel's own filesystems never do; such a
//! server would have its number closed a second time, as with a plain `close(2)` retried.)
//!
//! # The readiness backend
//!
//! `close(2)` at once, after the fd is removed from the epoll interest list (a closed fd's
//! registration would otherwise linger while another file reuses the number). Called once:
//! retrying after `EINTR` could close a reused number.

use crate::driver::cancel_scope;
use crate::driver::op_future::Op;
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

/// A close's data: the fd itself, not a `SharedFd` (the caller gave up every other handle).
pub(crate) struct Close {
    /// `Some` until the close is over: taken by `perform`, or at the completion by `complete`
    /// or `dispose`, which forget it if the kernel ran the close and close it otherwise.
    fd: Option<OwnedFd>,
}

/// Closes `fd` through the ring. Only for an fd nothing else holds: `fs::File::close` first
/// takes it out of its `SharedFd`, and an fd an op in flight still holds is closed by the
/// last clone's drop instead, once that op ends.
pub(crate) fn close(fd: OwnedFd) -> Op<Close> {
    Op::new(Close { fd: Some(fd) })
}

/// What a close's answer says of its fd.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The kernel ran the close: the fd is released, whatever the result.
    Ran,
    /// The driver refused the entry before the kernel saw it (no errno, and none inside a
    /// cancelling scope's `TimedOut`): the fd is still open.
    Refused,
    /// The kernel cancelled the close unrun (`ECANCELED`, bare or inside a scope's
    /// `TimedOut`): the fd is still open.
    Cancelled,
}

fn answer(result: &io::Result<u32>) -> Answer {
    let Err(err) = result else {
        return Answer::Ran;
    };
    match err
        .raw_os_error()
        .or_else(|| cancel_scope::kernel_errno(err))
    {
        Some(libc::ECANCELED) => Answer::Cancelled,
        Some(_) => Answer::Ran,
        None => Answer::Refused,
    }
}

/// Closes `fd` now, with `close(2)`: the op's close never ran.
fn close_now(fd: Option<OwnedFd>) -> io::Result<()> {
    let Some(fd) = fd else {
        return Ok(());
    };
    let raw = fd.into_raw_fd();
    crate::driver::try_with_current(|driver| driver.release_fd(raw));
    // SAFETY: `raw` came from the OwnedFd this op owned and no close of it ran; nothing else
    // closes it. Called once: after EINTR the fd is closed anyway.
    if unsafe { libc::close(raw) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

// SAFETY: the entry holds no pointers, only the fd number, which the op owns until the kernel
// has closed it.
unsafe impl OpCode for Close {
    fn sqe(&mut self) -> squeue::Entry {
        let raw = self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        opcode::Close::new(types::Fd(raw)).build()
    }

    /// On epoll: closed at once (after forgetting any readiness registration).
    fn perform(&mut self) -> Performed {
        let Some(fd) = self.fd.take() else {
            return Performed::Done(CqeResult::from_raw(0, 0));
        };
        let raw = fd.into_raw_fd();
        crate::driver::try_with_current(|driver| driver.release_fd(raw));
        // SAFETY: `raw` came from the OwnedFd this op owned; nothing else closes it. Called
        // once: after EINTR the fd is closed anyway, and a retry could close a reused number.
        let rc = unsafe { libc::close(raw) };
        Performed::from_rc(rc as isize, raw, crate::driver::opcode::Interest::Read, 0)
    }

    /// The future went while the close was in flight: its cancel may have stopped it unrun,
    /// and then nobody else would close the fd.
    fn dispose(&mut self, cqe: &CqeResult) {
        let fd = self.fd.take();
        match answer(&cqe.result) {
            Answer::Ran => {
                let _ = fd.map(IntoRawFd::into_raw_fd);
            }
            Answer::Refused | Answer::Cancelled => {
                let _ = close_now(fd);
            }
        }
    }
}

impl Oneshot for Close {
    type Output = io::Result<()>;

    /// The kernel's answer is the close's result, as `close(2)`'s would be: an error (`EIO`
    /// from a failed write-back on some filesystems) reports a problem, but the fd is gone.
    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let fd = self.fd.take();
        match answer(&cqe.result) {
            Answer::Ran => {
                let _ = fd.map(IntoRawFd::into_raw_fd);
                cqe.result.map(drop)
            }
            // The refusal says why the close did not go through the ring.
            Answer::Refused => {
                let _ = close_now(fd);
                cqe.result.map(drop)
            }
            // The close happens now after all: its result is the op's.
            Answer::Cancelled => close_now(fd),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{FromRawFd, RawFd};

    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only reads the descriptor's flags; a closed fd gives EBADF.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    /// The inode `fd` names, if it is open: tells "still our file" from "the number was reused
    /// by a test running alongside".
    fn inode(fd: RawFd) -> Option<u64> {
        // SAFETY: `stat` is plain data (integers); all zeroes is a valid value.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fstat` writes one `struct stat` into the live local; a closed fd is EBADF.
        (unsafe { libc::fstat(fd, &mut stat) } == 0).then_some(stat.st_ino)
    }

    /// A close the cancel reached before an io-wq worker did (a file with a `flush` method)
    /// ends with `ECANCELED` and never ran: the abandoned op must close the fd, not forget it.
    #[test]
    fn a_dropped_close_the_cancel_stopped_still_closes_the_fd() {
        let (ours, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = ours.as_raw_fd();
        let ino = inode(raw);
        let mut op = Close {
            fd: Some(OwnedFd::from(ours)),
        };
        op.dispose(&CqeResult::from_raw(-libc::ECANCELED, 0));
        drop(op);
        let leaked = inode(raw).is_some() && inode(raw) == ino;
        if leaked {
            // SAFETY: still our socket, which nothing owns any more: close it after all.
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
        }
        assert!(!leaked, "the fd of a close the kernel never ran was leaked");
    }

    /// Linux frees the descriptor even when `close` fails with `EINTR`; closing the number again
    /// could close an unrelated file opened since. A cancelling scope (a `timeout_op` whose
    /// deadline passed while the close was in flight) turns the kernel's `EINTR` into
    /// `TimedOut`; the op must still see that the kernel had the close.
    #[test]
    fn a_close_interrupted_in_a_cancelled_scope_is_not_closed_again() {
        let fd = std::fs::File::open("/dev/null").unwrap();
        let raw = fd.as_raw_fd();
        let op = Close {
            fd: Some(OwnedFd::from(fd)),
        };
        // The fd stays open here, as if another file had been given the number since.
        let result = op.complete(cancel_scope::after_cancel(CqeResult::from_raw(
            -libc::EINTR,
            0,
        )));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(
            is_open(raw),
            "the close was repeated on an fd the kernel had freed"
        );
        // SAFETY: the fd is still open and nothing else owns it (the op forgot it).
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
    }

    /// A close of one end of a socket pair, and the other end, which reads end-of-stream once
    /// the op's end is closed: asking about the fd number would not say, since tests running
    /// in parallel reuse numbers at once.
    fn close_of_a_pair() -> (Close, RawFd, std::os::unix::net::UnixStream) {
        let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
        peer.set_nonblocking(true).unwrap();
        let raw = ours.as_raw_fd();
        (
            Close {
                fd: Some(OwnedFd::from(ours)),
            },
            raw,
            peer,
        )
    }

    fn closed(peer: &std::os::unix::net::UnixStream) -> bool {
        use std::io::Read;
        matches!((&*peer).read(&mut [0u8; 1]), Ok(0))
    }

    /// `ECANCELED`: the kernel never ran the close (it waited for a worker thread when the
    /// cancel came), so the fd is still open and the op is its only owner.
    #[test]
    fn a_close_cancelled_unrun_is_closed_by_the_op() {
        let (op, _, peer) = close_of_a_pair();
        let result = op.complete(CqeResult::from_raw(-libc::ECANCELED, 0));
        assert!(
            result.is_ok(),
            "closed now, and that close went well: {result:?}"
        );
        assert!(
            closed(&peer),
            "a close the kernel cancelled left its fd open"
        );

        // The same answer inside a cancelling scope's `TimedOut`.
        let (op, _, peer) = close_of_a_pair();
        let scoped = cancel_scope::after_cancel(CqeResult::from_raw(-libc::ECANCELED, 0));
        assert!(op.complete(scoped).is_ok());
        assert!(
            closed(&peer),
            "a close a scope cancelled unrun left its fd open"
        );
    }

    /// A dropped close future: its cancel may stop the close unrun, and nobody takes the result.
    #[test]
    fn a_dropped_close_cancelled_unrun_is_closed_at_disposal_and_a_run_one_is_not() {
        let (mut op, _, peer) = close_of_a_pair();
        op.dispose(&CqeResult::from_raw(-libc::ECANCELED, 0));
        assert!(
            closed(&peer),
            "a dropped close the kernel cancelled left its fd open"
        );

        let (mut op, raw, peer) = close_of_a_pair();
        op.dispose(&CqeResult::from_raw(0, 0));
        assert!(!closed(&peer), "a close the kernel ran was repeated");
        // SAFETY: the fd is still open and nothing else owns it (the op forgot it).
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
    }
}
