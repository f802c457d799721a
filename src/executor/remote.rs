//! What other threads may touch: the remote run queue and the wake-up of a parked ring.
//!
//! The park/unpark handshake (both sides `SeqCst`):
//!
//! * owner, before blocking in the kernel: `parked = true`, then look at `pending`; if anything
//!   is pending, `parked = false` and do not block.
//! * waker on another thread: push, `pending = true`, then `if parked.swap(false)` write the
//!   eventfd (which the ring polls, so the blocked `io_uring_enter` returns).
//!
//! Either the owner sees `pending`, or the waker sees `parked` and notifies: a wake is never
//! lost, and the owner is notified at most once per park.
//!
//! Notifying: a waker running on a thread with its own ring (another coring worker) posts the
//! wake-up with `MSG_RING` from its ring to the owner's, batched with its own submissions; a
//! thread without a ring writes the owner's eventfd. The executor knows nothing of rings: the
//! runtime hands it a plain function ([`RingNotifier`]) that does the posting.

use super::task::Runnable;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst,
};
use std::sync::{Arc, Mutex};

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// The part of an executor shared with other threads.
/// Posts a wake-up to the ring whose fd is given, from the calling thread's own ring; `false` if
/// the calling thread has none (then the eventfd is used).
pub(crate) type RingNotifier = fn(target_ring_fd: RawFd) -> bool;

/// Work sent from another thread to run on the owner thread (a remote spawn).
pub(crate) type Injected = Box<dyn FnOnce() + Send>;

/// How owners were notified, for tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct NotifyCounts {
    pub(crate) msg_ring: AtomicU64,
    pub(crate) eventfd: AtomicU64,
}

pub(crate) struct Shared {
    /// Unique per executor, so a waker can tell "my executor is running on this thread".
    pub(crate) id: usize,
    queue: Mutex<Vec<Arc<dyn Runnable>>>,
    injected: Mutex<Vec<Injected>>,
    ring_fd: AtomicI32,
    notifier: Option<RingNotifier>,
    pub(crate) notified: NotifyCounts,
    pending: AtomicBool,
    parked: AtomicBool,
    closed: AtomicBool,
    eventfd: OwnedFd,
}

impl Shared {
    pub(crate) fn new(notifier: Option<RingNotifier>) -> io::Result<Arc<Self>> {
        // SAFETY: eventfd has no memory arguments; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("coring: eventfd failed: {err}"),
            ));
        }
        Ok(Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, SeqCst),
            queue: Mutex::new(Vec::new()),
            injected: Mutex::new(Vec::new()),
            ring_fd: AtomicI32::new(-1),
            notifier,
            notified: NotifyCounts::default(),
            pending: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
            eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
        }))
    }

    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Queues a task woken from a thread other than its owner's running executor.
    pub(crate) fn push_remote(&self, task: Arc<dyn Runnable>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(SeqCst) {
            drop(queue);
            // The runtime is gone: its futures were dropped at shutdown, so this is an empty shell.
            drop(task);
            return;
        }
        queue.push(task);
        drop(queue);
        self.pending.store(true, SeqCst);
        self.unpark();
    }

    /// Records the owner's ring, so wakers on other rings can post to it with `MSG_RING`.
    pub(crate) fn set_ring_fd(&self, fd: RawFd) {
        self.ring_fd.store(fd, SeqCst);
    }

    /// Queues `work` to run on the owner thread at its next loop turn.
    pub(crate) fn inject(&self, work: Injected) -> Result<(), Injected> {
        let mut injected = self.injected.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(SeqCst) {
            return Err(work);
        }
        injected.push(work);
        drop(injected);
        self.pending.store(true, SeqCst);
        self.unpark();
        Ok(())
    }

    /// Takes the work injected from other threads.
    pub(crate) fn take_injected(&self) -> Vec<Injected> {
        std::mem::take(&mut *self.injected.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Wakes the owner if it is blocked in the kernel (or about to be).
    pub(crate) fn unpark(&self) {
        if self.parked.swap(false, SeqCst) {
            let ring_fd = self.ring_fd.load(SeqCst);
            if ring_fd >= 0 && self.notifier.is_some_and(|notify| notify(ring_fd)) {
                self.notified.msg_ring.fetch_add(1, Relaxed);
                return;
            }
            self.notified.eventfd.fetch_add(1, Relaxed);
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a local u64 to our own eventfd. If the counter is
            // saturated (EAGAIN) a wake-up is already pending, which is all we want.
            let _ = unsafe { libc::write(self.eventfd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }

    /// Owner side of the handshake; returns `false` if something is pending and the owner must
    /// not block.
    pub(crate) fn prepare_park(&self, other_work: &AtomicBool) -> bool {
        self.parked.store(true, SeqCst);
        if self.pending.load(SeqCst) || other_work.load(SeqCst) {
            self.parked.store(false, SeqCst);
            return false;
        }
        true
    }

    pub(crate) fn after_park(&self) {
        self.parked.store(false, SeqCst);
    }

    /// Moves remotely woken tasks into `out`; `true` if anything was pending (tasks or work).
    pub(crate) fn drain_into(
        &self,
        out: &mut std::collections::VecDeque<Arc<dyn Runnable>>,
    ) -> bool {
        // A plain load first: the common case, nothing pending, then costs no locked swap.
        if !self.pending.load(SeqCst) || !self.pending.swap(false, SeqCst) {
            return false;
        }
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        out.extend(batch);
        true
    }

    /// Refuses further remote wakes and returns what was queued (to drop on the owner thread).
    pub(crate) fn close(&self) -> (Vec<Arc<dyn Runnable>>, Vec<Injected>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut injected = self.injected.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, SeqCst);
        (std::mem::take(&mut *queue), std::mem::take(&mut *injected))
    }
}
