//! File operations on the readiness backend: their syscalls run on the blocking pool, on
//! pointers into the op's own data, so a slow disk never blocks the core.
//!
//! The op's data stays on the core thread; only the syscall (a closure over raw pointers and
//! plain values) goes to a pool thread. So the data must outlive the call: an `Op` dropped while
//! its call runs hands its data to the driver as an orphan, which keeps it until the call's
//! [`Job`] says done, then disposes of the result (closing an fd an open returned) and frees it
//! outside the driver's borrow, as the io_uring backend does with an abandoned op.

use super::Epoll;
use crate::driver::opcode::{Abandoned, CqeResult};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;

/// A blocking syscall to run on the pool: a closure over pointers into an op's data.
pub(crate) struct Syscall(Box<dyn FnOnce() -> isize + Send>);

impl std::fmt::Debug for Syscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Syscall")
    }
}

/// Carries a closure over raw pointers to another thread; see [`Syscall::new`].
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
pub(crate) fn errno_rc(rc: isize) -> isize {
    if rc >= 0 {
        return rc;
    }
    -(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO) as isize)
}

/// One offloaded call's outcome, shared by the pool thread and the op (or its orphan).
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
    /// Keeps the data of an op dropped while its call runs until the call is done.
    pub(crate) fn orphan(&mut self, job: Arc<Job>, data: Box<dyn Abandoned>) {
        self.orphans.push((job, data));
    }

    /// Disposes of the orphans whose call is done, moving their data to the graveyard.
    pub(super) fn reap_orphans(&mut self) {
        let mut i = 0;
        while i < self.orphans.len() {
            if let Some(cqe) = self.orphans[i].0.result() {
                let (_, mut data) = self.orphans.swap_remove(i);
                data.dispose(&cqe);
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
