//! Closing an fd through the ring with nobody waiting for the result (a `SharedFd`'s last clone
//! went), and making sure it is closed in the end.
//!
//! Such a close owns no memory, so it needs no slot; but it owns the fd, and the kernel does
//! not always run it. A close of a file whose filesystem has a `flush` method (FUSE, NFS,
//! overlayfs, POSIX message queues) is handed to a kernel worker thread, and work still queued
//! there is cancelled unrun (`ECANCELED`) when the ring is torn down or the thread exits: the fd
//! stays open, with nothing left to close it. So the entry's `user_data` carries the fd
//! (`CLOSE_TAG` | fd), and a cancelled close is done here with `close(2)`.
//!
//! # At shutdown
//!
//! Shutdown waits for the closes in flight (`closes_in_flight`), but not for long: a close
//! whose filesystem stopped answering (a hung FUSE or NFS server) may never end, and would hold
//! the runtime's drop for all of `SHUTDOWN_DEADLINE`, then leave every close still queued
//! behind it to the ring's teardown, which cancels them unrun: their fds stayed open. So after
//! [`CLOSES_CANCELLED_AFTER`] shutdown cancels what is left itself (one `ASYNC_CANCEL` matching
//! any request, Linux 5.19+): a close still queued comes back `ECANCELED` with its fd still
//! open, and is handed to a thread of its own to close (`close(2)` would block on the same
//! filesystem, and the runtime's drop must not); a close already running in a kernel worker
//! took the fd out of the table before it began, so the ring may go without it, and nothing is
//! left open. From the end of the round after the one that brought the cancel's answer (the
//! cancelled closes' completions come in that round, or the next), closes no longer hold
//! shutdown. A kernel that refuses the cancel gets the old wait, up to the deadline.

use super::{Uring, CLOSES_CANCEL_TOKEN};
use io_uring::{opcode, types};
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// How long shutdown lets detached closes end on the ring before cancelling the rest (see the
/// module docs). Long enough for any healthy filesystem's close, short enough that a hung one
/// does not make a runtime's drop a noticeable stall.
const CLOSES_CANCELLED_AFTER: Duration = Duration::from_secs(1);

/// Where shutdown's cancel of the closes still in flight is (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum ClosesCancel {
    /// Not needed yet, or not sent yet.
    #[default]
    NotSent,
    /// Pushed; its answer has not come.
    Sent,
    /// Answered, `rounds` shutdown rounds ago.
    Answered { rounds: u8 },
    /// The closes still in flight run in kernel workers: they no longer hold shutdown.
    Settled,
    /// The kernel cannot cancel by "any" (before 5.19): closes are waited for to the deadline.
    Refused,
}

/// The top half of a detached close's `user_data`; the fd (non-negative, so below 2^31) is the
/// bottom half. Top bit set, like every reserved value (`uring/mod.rs`), and no other reserved
/// value has this top half: the fixed tokens' is all ones, `MSG_SENT_TAG`'s starts `0b10`.
const CLOSE_TAG: u64 = 0b11 << 62;
const CLOSE_MASK: u64 = 0xffff_ffff << 32;

/// The fd of a detached close's completion, if `user_data` is one.
pub(super) fn closed_fd(user_data: u64) -> Option<RawFd> {
    if user_data & CLOSE_MASK != CLOSE_TAG {
        return None;
    }
    RawFd::try_from(user_data & !CLOSE_MASK).ok()
}

impl Uring {
    /// Queues a close of `fd`, which the caller owned and hands over: batched with the turn's
    /// other entries, its result ignored (a failed close leaves nothing to retry: Linux releases
    /// the number whatever `close` reports) unless the kernel cancelled it unrun.
    ///
    /// Safe against fd reuse (hazard H10) only because its caller is the last `SharedFd` clone:
    /// no op in flight names the number, and a new fd that gets the number after the close runs
    /// belongs to whoever opens it next.
    pub(crate) fn push_close(&mut self, fd: RawFd) -> io::Result<()> {
        if self.shut_down {
            // Shutdown may have reaped its last completion already: nothing would submit this.
            return Err(super::super::shutting_down());
        }
        let fd_bits = u64::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        let entry = opcode::Close::new(types::Fd(fd)).build();
        self.push_entry(&entry.user_data(CLOSE_TAG | fd_bits))?;
        self.closes_in_flight += 1;
        Ok(())
    }
}

impl Uring {
    /// Whether detached closes still hold shutdown: some are in flight, and shutdown's cancel
    /// has not settled them.
    pub(super) fn closes_pending(&self) -> bool {
        self.closes_in_flight > 0 && self.closes_cancel != ClosesCancel::Settled
    }

    /// Shutdown's round for the closes, before its wait: once they had
    /// [`CLOSES_CANCELLED_AFTER`] (`waited` is the time since shutdown began), cancels what is
    /// left, once.
    pub(super) fn cancel_slow_closes(&mut self, waited: Duration) {
        if self.closes_cancel == ClosesCancel::NotSent
            && self.closes_in_flight > 0
            && waited >= CLOSES_CANCELLED_AFTER
        {
            self.counters.cancels_sent.bump();
            let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any()).build();
            self.closes_cancel = match self.push_entry(&entry.user_data(CLOSES_CANCEL_TOKEN)) {
                Ok(()) => ClosesCancel::Sent,
                Err(_) => ClosesCancel::Refused,
            };
        }
    }

    /// After a shutdown round's dispatch: the closes are settled at the end of the round after
    /// the one that brought the cancel's answer (the cancelled closes' completions come in the
    /// same round, or in the next).
    pub(super) fn count_closes_round(&mut self) {
        if let ClosesCancel::Answered { rounds } = self.closes_cancel {
            self.closes_cancel = if rounds >= 1 {
                ClosesCancel::Settled
            } else {
                ClosesCancel::Answered { rounds: rounds + 1 }
            };
        }
    }

    /// Closes the fds of closes shutdown cancelled unrun, on a thread of their own: a close
    /// of a file whose filesystem hangs would block the runtime's drop. If no thread can be
    /// started they stay open (said on stderr): a leak, where the alternative is a hang.
    pub(super) fn hand_off_orphaned_closes(&mut self) {
        if self.orphaned_closes.is_empty() {
            return;
        }
        let fds = std::mem::take(&mut self.orphaned_closes);
        let count = fds.len();
        let closer = std::thread::Builder::new()
            .name("coring-close".into())
            .spawn(move || {
                for fd in fds {
                    // SAFETY: as in `close_cancelled`: the fd is the cancelled close's alone.
                    unsafe { libc::close(fd) };
                }
            });
        if let Err(err) = closer {
            eprintln!(
                "coring: {count} files whose closes shutdown cancelled stay open: no thread to \
                 close them ({err})"
            );
        }
    }
}

/// The kernel's answer to shutdown's cancel of the closes: `EINVAL` from a kernel that cannot
/// cancel by "any"; anything else (a count, `ENOENT`) means it went through.
pub(super) fn closes_cancel_answered(result: i32) -> ClosesCancel {
    if result == -libc::EINVAL {
        ClosesCancel::Refused
    } else {
        ClosesCancel::Answered { rounds: 0 }
    }
}

/// A detached close of `fd` completed with `result` (counted off `closes_in_flight` by the
/// caller, which holds the completion queue): `ECANCELED` means the kernel never ran it, so the
/// fd is still open and still the close's. Closed here, or during shutdown (`shutting_down`)
/// put in `orphans` for [`Uring::hand_off_orphaned_closes`]: shutdown cancels closes only when
/// they take long, so their files' closes may block.
pub(super) fn close_cancelled(
    fd: RawFd,
    result: i32,
    shutting_down: bool,
    orphans: &mut Vec<RawFd>,
) {
    if result != -libc::ECANCELED {
        return;
    }
    if shutting_down {
        orphans.push(fd);
    } else {
        // SAFETY: the fd was handed over with the close (its `SharedFd`'s last clone went), and
        // a close cancelled unrun left it open: nothing else owns or closes it.
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_names_its_fd_and_no_other_reserved_value_is_taken_for_one() {
        for fd in [0, 1, 1023, RawFd::MAX] {
            assert_eq!(closed_fd(CLOSE_TAG | fd as u64), Some(fd));
        }
        for token in [u64::MAX, u64::MAX - 1, u64::MAX - 2, u64::MAX - 3] {
            assert_eq!(closed_fd(token), None);
        }
        assert_eq!(closed_fd(super::super::MSG_SENT_TAG | 7), None);
        // An op's user_data: a generation below 2^31 over a slab index.
        assert_eq!(closed_fd((5 << 32) | 9), None);
    }
}
