//! Closing an fd through the ring with nobody waiting for the result (a `SharedFd`'s last clone
//! went), and making sure it is closed in the end.
//!
//! Such a close owns no memory, so it needs no slot; but it owns the fd, and the kernel does
//! not always run it. A close of a file whose filesystem has a `flush` method (FUSE, NFS,
//! overlayfs, POSIX message queues) is handed to a kernel worker thread, and work still queued
//! there is cancelled unrun (`ECANCELED`) when the ring is torn down or the thread exits: the fd
//! stays open, with nothing left to close it. So the entry's `user_data` carries the fd
//! (`CLOSE_TAG` | fd), a cancelled close is done here with `close(2)`, and shutdown waits for
//! every close in flight before the ring goes (`closes_in_flight`; they are never cancelled).

use super::Uring;
use io_uring::{opcode, types};
use std::io;
use std::os::fd::RawFd;

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

/// A detached close of `fd` completed with `result` (counted off `closes_in_flight` by the
/// caller, which holds the completion queue): `ECANCELED` means the kernel never ran it, so the
/// fd is still open and still the close's; it is closed here.
pub(super) fn close_if_cancelled(fd: RawFd, result: i32) {
    if result == -libc::ECANCELED {
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
