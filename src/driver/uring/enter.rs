//! Entering the kernel through a registered ring fd.
//!
//! Every `io_uring_enter` names its ring by fd, and the kernel looks that fd up in the process's
//! fd table first (and, when the table is shared with other threads, takes and drops a
//! reference on the file). `IORING_REGISTER_RING_FDS` (Linux 5.18) puts the ring into a small
//! table of the calling *thread*; an enter that passes the table index with
//! `IORING_ENTER_REGISTERED_RING` skips the lookup.
//!
//! The `io-uring` crate keeps the index in a `Submitter` value, and `IoUring::submitter()` makes
//! a fresh one per call, so the index would be lost: this module registers the ring itself and
//! makes the `io_uring_enter` syscall itself, with the same flags the crate's `submit_and_wait`
//! and `submit_with_args` would pass.
//!
//! Ground rules:
//!
//! * The table belongs to the thread (the kernel's task), holds 16 rings, and is not inherited
//!   by a forked child. A runtime never leaves its thread (`Runtime` is `!Send`), so the index
//!   is only used by the thread that registered it. When registration fails (a kernel before
//!   5.18 says `EINVAL`; a thread with 16 rings registered says `EBUSY`), the ring is entered by
//!   its plain fd, silently: the 17th runtime on a thread works like the first.
//! * The registration holds a reference on the ring, so the ring must be unregistered before it
//!   is dropped, or its memory would live until the thread exits and its slot in the table would
//!   stay taken. A forked child must not unregister: the index names nothing of its own, or a
//!   ring the child registered itself since.
//!
//! # The enter flags this driver passes, and when
//!
//! * `GETEVENTS` (`submit_with`): to wait, and whenever the kernel holds completions back;
//!   without it the kernel neither waits, nor runs deferred task work, nor flushes its
//!   overflow list;
//! * `EXT_ARG` (`submit_with`, with a timeout): the wait's timeout and minimum wait ride in
//!   the call, so no timeout entry is needed;
//! * `SQ_WAKEUP` (`submit_with`, SQPOLL only): the kernel thread went to sleep and must be
//!   woken to see new entries;
//! * `SQ_WAIT` (`push_entry`, SQPOLL only): wait for the kernel thread to make room in a full
//!   SQ;
//! * `REGISTERED_RING` ([`EnterFd::enter`]): the first argument is this thread's table index,
//!   not an fd.

use io_uring::EnterFlags;
use std::io;
use std::os::fd::RawFd;

/// `io_uring_register` opcodes (`include/uapi/linux/io_uring.h`). Written out because the
/// `io-uring` crate's own registration of ring fds goes through the `Submitter` whose index
/// is lost (module docs).
const IORING_REGISTER_RING_FDS: libc::c_long = 20;
const IORING_UNREGISTER_RING_FDS: libc::c_long = 21;

/// One entry of the `IORING_(UN)REGISTER_RING_FDS` argument (`struct io_uring_rsrc_update`).
#[repr(C)]
struct RsrcUpdate {
    /// The table index: `u32::MAX` asks the kernel to pick a free one (and write it back),
    /// or the index to unregister.
    offset: u32,
    /// Must be zero.
    resv: u32,
    /// The ring fd to register (unused when unregistering).
    data: u64,
}

/// The ring as `io_uring_enter` names it: its fd, or its index in this thread's table.
#[derive(Debug)]
pub(super) struct EnterFd {
    /// The ring's own fd: used when registration failed, and always for
    /// `io_uring_register` (which takes no registered index here).
    fd: RawFd,
    /// The index in this thread's registered-ring table, if registration worked.
    registered: Option<u32>,
}

impl EnterFd {
    /// Registers `fd` (a ring fd) with this thread, or falls back to entering by `fd`.
    pub(super) fn new(fd: RawFd) -> EnterFd {
        EnterFd {
            fd,
            registered: register(fd).ok(),
        }
    }

    /// Whether enters skip the fd lookup (published in the metrics, so a benchmark can say
    /// whether it ran with the saving).
    pub(super) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// Takes the ring out of this thread's table (see the module docs: before the ring is
    /// dropped, and never in a forked child). Enters go by the plain fd afterwards. In a child
    /// `Drop for Uring` returns before reaching this, so only the maker unregisters.
    pub(super) fn unregister(&mut self) {
        let Some(index) = self.registered.take() else {
            return;
        };
        let mut update = RsrcUpdate {
            offset: index,
            resv: 0,
            data: 0,
        };
        // SAFETY: the argument is one `io_uring_rsrc_update` on our stack, which the kernel only
        // reads during the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                libc::c_long::from(self.fd),
                IORING_UNREGISTER_RING_FDS,
                (&raw mut update).cast::<libc::c_void>(),
                1 as libc::c_long,
            )
        };
        if rc < 0 {
            // Only a bad index can fail this; the thread's exit releases the ring then.
            eprintln!(
                "coring: unregistering the ring fd failed: {}",
                io::Error::last_os_error()
            );
        }
    }

    /// `io_uring_enter(ring, to_submit, min_complete, flags, arg, arg_size)`, by index if the
    /// ring is registered. Returns the entries consumed.
    ///
    /// # Safety
    ///
    /// `arg` and `arg_size` must be what `flags` says (null and 0, or with `EXT_ARG` an
    /// `io_uring_getevents_arg` whose pointers are valid for the call), and every entry in the
    /// submission queue must be valid until its completion (the `OpCode` contract).
    pub(super) unsafe fn enter(
        &self,
        to_submit: u32,
        min_complete: u32,
        flags: EnterFlags,
        arg: *const libc::c_void,
        arg_size: usize,
    ) -> io::Result<usize> {
        let (fd, flags) = match self.registered {
            Some(index) => (index as libc::c_long, flags | EnterFlags::REGISTERED_RING),
            None => (libc::c_long::from(self.fd), flags),
        };
        // SAFETY: the caller vouches for `arg` and the queued entries; the index is this
        // thread's (a runtime never leaves the thread that built it).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                libc::c_long::from(to_submit),
                libc::c_long::from(min_complete),
                libc::c_long::from(flags.bits()),
                arg,
                arg_size,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc as usize)
    }
}

/// Puts ring `fd` into this thread's registered-ring table; returns its index.
fn register(fd: RawFd) -> io::Result<u32> {
    let mut update = RsrcUpdate {
        // Any free slot: the kernel writes the one it took back here.
        offset: u32::MAX,
        resv: 0,
        data: fd as u64,
    };
    // SAFETY: the argument is one `io_uring_rsrc_update` on our stack, which the kernel reads and
    // writes (the chosen offset) during the call only.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            libc::c_long::from(fd),
            IORING_REGISTER_RING_FDS,
            (&raw mut update).cast::<libc::c_void>(),
            1 as libc::c_long,
        )
    };
    // The call answers how many of the given updates it applied: one asked, one done.
    match rc {
        1 => Ok(update.offset),
        rc if rc < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::other("coring: the ring fd was not registered")),
    }
}
