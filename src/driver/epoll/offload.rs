//! File operations on the readiness backend: their syscalls run on the blocking pool, on
//! pointers into the op's own data, so a slow disk never blocks the core.
//!
//! The op's data stays on the core thread; only the syscall (a closure over raw pointers and
//! plain values) goes to a pool thread. So the data must outlive the call: an `Op` dropped while
//! its call runs hands its data to the driver as an orphan, which keeps it until the call's
//! [`Job`] says done, then disposes of the result (closing an fd an open returned) and frees it
//! outside the driver's borrow, as the io_uring backend does with an abandoned op.
//!
//! # Why a pool and not epoll
//!
//! Regular files are always "ready" to epoll (it refuses to register them with `EPERM`), and a
//! read of a file that is not in the page cache blocks in the kernel whatever `O_NONBLOCK`
//! says. So a file op on this backend returns `Performed::Blocking` with its syscall, and
//! `Op::poll` (`op_future.rs`) moves into `Stage::Offloaded` until the pool thread is done.
//!
//! # The hand-off, step by step
//!
//! 1. the op's `perform` builds a [`Syscall`] over raw pointers into its own heap data (the
//!    path, the buffer) and the plain values it needs (the fd number, the length);
//! 2. [`Syscall::start`] runs it on the blocking pool and returns the shared [`Job`];
//! 3. the pool thread stores the result and sets `done` (Release); from then on it touches
//!    nothing of the op's;
//! 4. the future, woken by the pool's handle, reads `done` (Acquire), then the result, and
//!    only then lets the data go (to `complete`, or to `dispose` if it was dropped).
//!
//! The data never crosses threads; only pointers to it do, for exactly the span of the call.

use super::Epoll;
use crate::driver::opcode::{Abandoned, CqeResult};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;

/// A blocking syscall to run on the pool: a closure over pointers into an op's data.
///
/// Boxed so every file op, whatever its closure, gives `Performed::Blocking` one type; the box
/// is one allocation per file call, which a call to the pool costs many times over anyway.
pub(crate) struct Syscall(Box<dyn FnOnce() -> isize + Send>);

impl std::fmt::Debug for Syscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Syscall")
    }
}

/// Carries a closure over raw pointers to another thread; see [`Syscall::new`].
///
/// Raw pointers are `!Send`, so the compiler cannot see that the memory they point at is
/// parked on the core thread for the call's duration; this wrapper states it, and
/// `Syscall::new` is `unsafe` because the statement is the caller's.
struct AssertSend<F>(F);

// SAFETY: only built by `Syscall::new`, whose caller promises the pointers stay valid for the
// call and are not used by the owning thread meanwhile (the op is parked until it is done).
unsafe impl<F> Send for AssertSend<F> {}

impl<F: FnOnce() -> isize> AssertSend<F> {
    /// Takes `self` whole, so a closure calling it captures the `Send` wrapper, not its field.
    fn call(self) -> isize {
        (self.0)()
    }
}

impl Syscall {
    /// A syscall whose result is `rc` (negative: `-errno`, see [`errno_rc`]).
    ///
    /// # Safety
    ///
    /// Every pointer `call` uses must point into the data of the op that returns it, valid
    /// until `call` returns: `Op` keeps its data until the job is done, or hands it to the
    /// driver (`Epoll::orphan`) until then; and the op must not touch that memory meanwhile.
    pub(crate) unsafe fn new(call: impl FnOnce() -> isize + 'static) -> Syscall {
        let call = AssertSend(call);
        Syscall(Box::new(move || call.call()))
    }

    /// Starts the call on the blocking pool; the returned job says when it is done.
    ///
    /// The handle is what wakes the op's task when the call returns (it is a future); the job
    /// is what an orphan is checked with, since an orphan has no task to wake.
    pub(crate) fn start(self) -> (Arc<Job>, crate::task::BlockingHandle<()>) {
        let job = Arc::new(Job {
            rc: AtomicIsize::new(0),
            done: AtomicBool::new(false),
        });
        let theirs = job.clone();
        let call = self.0;
        let handle = crate::task::spawn_blocking(move || {
            let rc = call();
            theirs.rc.store(rc, Ordering::Relaxed);
            theirs.done.store(true, Ordering::Release);
        });
        (job, handle)
    }
}

/// `rc` of a libc call, with a failure turned into `-errno` (read on the thread that failed).
/// It must run inside the closure, on the pool thread: `errno` is thread-local, and by the
/// time the core thread looks, its own `errno` says nothing of this call.
pub(crate) fn errno_rc(rc: isize) -> isize {
    if rc >= 0 {
        return rc;
    }
    -(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO) as isize)
}

/// One offloaded call's outcome, shared by the pool thread and the op (or its orphan).
///
/// In an `Arc` because either side may be the last to let go: the pool thread after storing
/// the result, or the op after reading it. Two atomics rather than a `Mutex<Option<isize>>`:
/// one writer, written once.
#[derive(Debug)]
pub(crate) struct Job {
    /// The call's return value, `-errno` on failure; meaningful once `done` is set.
    rc: AtomicIsize,
    /// Set (Release) by the pool thread after `rc`; read (Acquire) before `rc`, so a reader
    /// that sees `true` sees the result, and the pool thread no longer touches the op's data.
    done: AtomicBool,
}

impl Job {
    /// The call's result once it has returned.
    pub(crate) fn result(&self) -> Option<CqeResult> {
        if !self.done.load(Ordering::Acquire) {
            return None;
        }
        let rc = self.rc.load(Ordering::Relaxed);
        // Linux caps one read or write at a little under 2 GiB (`MAX_RW_COUNT`), so a count
        // always fits the `u32` of a completion; the clamp is for form.
        Some(if rc >= 0 {
            CqeResult {
                result: Ok(u32::try_from(rc).unwrap_or(u32::MAX)),
                flags: 0,
            }
        } else {
            CqeResult::from_raw(i32::try_from(rc).unwrap_or(-libc::EIO), 0)
        })
    }
}

impl Epoll {
    /// Keeps the data of an op dropped while its call runs until the call is done. The
    /// epoll counterpart of an abandoned io_uring slot: the memory the call points into
    /// outlives the future, never the call.
    pub(crate) fn orphan(&mut self, job: Arc<Job>, data: Box<dyn Abandoned>) {
        self.orphans.push((job, data));
    }

    /// Disposes of the orphans whose call is done, moving their data to the graveyard.
    /// Checked at every park, and `park` looks again within 10 ms while any remain: no fd
    /// reports a pool thread finishing.
    pub(super) fn reap_orphans(&mut self) {
        let mut i = 0;
        while i < self.orphans.len() {
            if let Some(cqe) = self.orphans[i].0.result() {
                let (_, mut data) = self.orphans.swap_remove(i);
                super::super::dispose::dispose(&mut *data, &cqe);
                self.graveyard.push(data);
            } else {
                i += 1;
            }
        }
    }
}

impl Drop for Epoll {
    /// The last holder of the driver may be an op that outlived its runtime (a future kept past
    /// `block_on`), dropped while its call still runs or waits on the pool: shutdown could not
    /// wait for it, so its data (buffer, fd) is leaked, never freed under the call.
    fn drop(&mut self) {
        self.reap_orphans();
        for orphan in self.orphans.drain(..) {
            std::mem::forget(orphan);
        }
    }
}
