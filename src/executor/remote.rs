//! What other threads may touch: the remote run queue and the wake-up of a parked ring.
//!
//! The park/unpark handshake is one atomic word with two bits, `PENDING` (something was queued
//! or woken from another thread) and `PARKED` (the owner is blocking, or about to, in the
//! kernel). Every step is a read-modify-write of that one word, so the steps are totally ordered
//! without relying on `SeqCst` between different locations:
//!
//! * owner, before blocking: compare-exchange `0 → PARKED`; if it fails, something is pending
//!   and the owner does not block.
//! * waker on another thread: push, then `fetch_or(PENDING)`; if the old value was exactly
//!   `PARKED` (parked, nothing pending yet), this waker is the one that notifies: it writes the
//!   eventfd (which the ring polls, so the blocked `io_uring_enter` returns).
//!
//! * owner, after the kernel returns: clear `PARKED`; before taking the queue: clear `PENDING`.
//!
//! Either the owner's exchange sees `PENDING`, or the waker's `fetch_or` sees `PARKED` and
//! notifies: a wake is never lost, and the owner is notified at most once per park. The loom
//! models at the bottom check this over every interleaving.
//!
//! Notifying: a waker running on a thread with its own ring (another coring worker) posts the
//! wake-up with `MSG_RING` from its ring to the owner's, batched with its own submissions; a
//! thread without a ring writes the owner's eventfd. The executor knows nothing of rings: the
//! runtime hands it a plain function ([`RingNotifier`]) that does the posting. If the kernel
//! refuses a posted wake-up (an error completion on the sender's ring: the target's completion
//! queue is full, or memory is short), the owner must still wake: a refusal the kernel decides
//! while the notifier submits the message makes the notifier return `false`, so the eventfd is
//! written at once (the sender may never reap its ring again); one decided later (behind an
//! SQPOLL thread) makes the sender's runtime call [`wake_through_eventfd`] with the target's id
//! when it reaps that completion.

use super::raw_task::TaskRef;
use crate::counters::Counters;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{
    AtomicI32, AtomicU64, AtomicUsize, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed,
    Ordering::SeqCst,
};
use std::sync::{Arc, Weak};

// The handshake's own atomics and locks are loom's under `--cfg loom`, so the model checker
// explores their interleavings (see the `loom_model` tests below).
#[cfg(loom)]
use loom::sync::{
    atomic::{AtomicBool, AtomicU8},
    Mutex,
};
#[cfg(not(loom))]
use std::sync::{
    atomic::{AtomicBool, AtomicU8},
    Mutex,
};

/// Work was queued, or a waker fired, from another thread since the owner last looked.
const PENDING: u8 = 1;
/// The owner is blocking in the kernel, or about to.
const PARKED: u8 = 2;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Every live executor's `Remote` by id, for [`wake_through_eventfd`]: a refused `MSG_RING`
/// carries only the id, and the target may be gone (with its eventfd number reused) by the time
/// the refusal is reaped, so the eventfd is reached through the `Remote` that owns it. Touched
/// when a runtime starts or ends and when a wake-up is refused, never per wake.
static REGISTRY: std::sync::Mutex<BTreeMap<usize, Weak<Remote>>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Posts a wake-up to the ring whose fd is given, from the calling thread's own ring; `false` if
/// the calling thread has none, or the kernel refused the message as it was submitted (then the
/// eventfd is used). `target_id` is the owner's [`Remote::id`], for the fallback should the
/// kernel refuse the wake-up later.
pub(crate) type RingNotifier = fn(target_ring_fd: RawFd, target_id: usize) -> bool;

/// Work sent from another thread to run on the owner thread (a remote spawn).
pub(crate) type Injected = Box<dyn FnOnce() + Send>;

/// How owners were notified, for tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct NotifyCounts {
    pub(crate) msg_ring: AtomicU64,
    pub(crate) eventfd: AtomicU64,
}

/// An executor's remote half: what wakers and handles on other threads reach (the remote run
/// queue, injected closures, the park/unpark word and the way to notify the owner's ring).
pub(crate) struct Remote {
    /// Unique per executor, so a waker can tell "my executor is running on this thread".
    pub(crate) id: usize,
    queue: Mutex<Vec<TaskRef>>,
    injected: Mutex<Vec<Injected>>,
    ring_fd: AtomicI32,
    notifier: Option<RingNotifier>,
    pub(crate) notified: NotifyCounts,
    /// `PENDING | PARKED` bits; see the module docs.
    state: AtomicU8,
    closed: AtomicBool,
    eventfd: OwnedFd,
    /// The thread the executor runs on (it creates its `Remote`): the only one that may drop a
    /// task's future.
    owner: std::thread::ThreadId,
    /// The runtime's counters: written by the owner thread only, readable from any.
    pub(crate) counters: Arc<Counters>,
}

impl Remote {
    pub(crate) fn new(notifier: Option<RingNotifier>) -> io::Result<Arc<Self>> {
        let eventfd = crate::sys::eventfd()
            .map_err(|err| io::Error::new(err.kind(), format!("coring: eventfd failed: {err}")))?;
        let shared = Arc::new(Remote {
            id: NEXT_ID.fetch_add(1, SeqCst),
            queue: Mutex::new(Vec::new()),
            injected: Mutex::new(Vec::new()),
            ring_fd: AtomicI32::new(-1),
            notifier,
            notified: NotifyCounts::default(),
            state: AtomicU8::new(0),
            closed: AtomicBool::new(false),
            eventfd,
            owner: std::thread::current().id(),
            counters: Arc::default(),
        });
        REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shared.id, Arc::downgrade(&shared));
        Ok(shared)
    }

    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Queues a task woken from a thread other than its owner's running executor. Hands the
    /// task back if the runtime is gone, for the caller to drop once it no longer borrows `self`
    /// (the task may hold the last reference to this `Remote`).
    pub(crate) fn push_remote(&self, task: TaskRef) -> Option<TaskRef> {
        self.push_unless_closed(&self.queue, task).err()
    }

    /// Whether the calling thread is the executor's own.
    pub(crate) fn is_owner_thread(&self) -> bool {
        std::thread::current().id() == self.owner
    }

    /// Records the owner's ring, so wakers on other rings can post to it with `MSG_RING`.
    pub(crate) fn set_ring_fd(&self, fd: RawFd) {
        self.ring_fd.store(fd, SeqCst);
    }

    /// Forgets the owner's ring: it is closing, and its fd number may be reused.
    pub(crate) fn clear_ring_fd(&self) {
        self.ring_fd.store(-1, SeqCst);
    }

    /// The owner's ring fd, or -1 if none (or closed).
    #[cfg(test)]
    pub(crate) fn ring_fd(&self) -> RawFd {
        self.ring_fd.load(SeqCst)
    }

    /// Queues `work` to run on the owner thread at its next loop turn.
    pub(crate) fn inject(&self, work: Injected) -> Result<(), Injected> {
        self.push_unless_closed(&self.injected, work)
    }

    /// Pushes `item` on `queue` and wakes the owner, or hands `item` back if the runtime is
    /// closed. `closed` is read under the queue's lock, which `close` also takes, so nothing is
    /// pushed after `close` has emptied the queue.
    fn push_unless_closed<T>(&self, queue: &Mutex<Vec<T>>, item: T) -> Result<(), T> {
        let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(SeqCst) {
            return Err(item);
        }
        queue.push(item);
        drop(queue);
        self.unpark();
        Ok(())
    }

    /// Takes the work injected from other threads.
    pub(crate) fn take_injected(&self) -> Vec<Injected> {
        std::mem::take(&mut *self.injected.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Marks work pending and wakes the owner if it is blocked in the kernel (or about to be).
    pub(crate) fn unpark(&self) {
        if self.state.fetch_or(PENDING, AcqRel) == PARKED {
            let ring_fd = self.ring_fd.load(SeqCst);
            if ring_fd >= 0 && self.notifier.is_some_and(|notify| notify(ring_fd, self.id)) {
                self.notified.msg_ring.fetch_add(1, Relaxed);
                return;
            }
            self.notify_through_eventfd();
        }
    }

    fn notify_through_eventfd(&self) {
        self.notified.eventfd.fetch_add(1, Relaxed);
        // If the counter is saturated (EAGAIN) a wake-up is already pending, which is all we
        // want.
        let _ = crate::sys::eventfd_add_one(self.eventfd.as_fd());
    }

    /// Owner side of the handshake; returns `false` if something is pending and the owner must
    /// not block.
    pub(crate) fn prepare_park(&self) -> bool {
        self.state
            .compare_exchange(0, PARKED, AcqRel, Acquire)
            .is_ok()
    }

    pub(crate) fn after_park(&self) {
        self.state.fetch_and(!PARKED, AcqRel);
    }

    /// Moves remotely woken tasks into `out`; `true` if anything was pending (tasks or work).
    pub(crate) fn drain_into(&self, out: &mut std::collections::VecDeque<TaskRef>) -> bool {
        // A plain load first: the common case, nothing pending, then costs no locked operation.
        if self.state.load(Acquire) & PENDING == 0
            || self.state.fetch_and(!PENDING, AcqRel) & PENDING == 0
        {
            return false;
        }
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        self.counters.remote_wakes.add(batch.len() as u64);
        out.extend(batch);
        true
    }

    /// Refuses further remote wakes and returns what was queued (to drop on the owner thread).
    pub(crate) fn close(&self) -> (Vec<TaskRef>, Vec<Injected>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut injected = self.injected.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, SeqCst);
        (std::mem::take(&mut *queue), std::mem::take(&mut *injected))
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        // Only our own entry: a `Remote` made since under the same id cannot exist (ids are
        // never reused), but the entry may already point at nothing.
        registry.remove(&self.id);
    }
}

/// Wakes the owner of the executor with id `target_id` through its eventfd: the fallback for a
/// `MSG_RING` wake-up the kernel refused. Nothing happens if that runtime is gone.
pub(crate) fn wake_through_eventfd(target_id: usize) {
    let target = REGISTRY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&target_id)
        .and_then(Weak::upgrade);
    if let Some(target) = target {
        target.notify_through_eventfd();
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_model`.
    use super::*;
    use crate::executor::raw_task::new_task;
    use crate::executor::JoinHandle;
    use loom::sync::atomic::AtomicBool;

    /// A task that does nothing, with its handle (kept on the owner thread: it is `!Send`).
    fn task(shared: &Arc<Remote>) -> (TaskRef, JoinHandle<()>) {
        new_task(async {}, shared.clone())
    }

    /// A remote wake racing the owner's decision to block is never lost: either the owner sees
    /// the pending work and does not block, or the waker notifies it.
    #[test]
    fn remote_push_versus_park_loses_no_wake() {
        loom::model(|| {
            let shared = Remote::new(None).unwrap();
            let remote = shared.clone();
            let (task, _handle) = task(&shared);
            let waker = loom::thread::spawn(move || assert!(remote.push_remote(task).is_none()));
            let blocks = shared.prepare_park();
            waker.join().unwrap();
            let notified = shared.notified.eventfd.load(Relaxed);
            assert!(!blocks || notified == 1, "owner blocked and nobody woke it");
            if !blocks {
                shared.after_park();
            }
            let mut queue = std::collections::VecDeque::new();
            assert!(shared.drain_into(&mut queue));
            assert_eq!(queue.len(), 1, "the task is delivered exactly once");
        });
    }

    /// The same for the `block_on` future's flag, set by a waker on another thread.
    #[test]
    fn main_wake_versus_park_loses_no_wake() {
        loom::model(|| {
            let shared = Remote::new(None).unwrap();
            let woken = Arc::new(AtomicBool::new(false));
            let (remote, flag) = (shared.clone(), woken.clone());
            let waker = loom::thread::spawn(move || {
                flag.store(true, Relaxed);
                remote.unpark();
            });
            let blocks = shared.prepare_park();
            waker.join().unwrap();
            let notified = shared.notified.eventfd.load(Relaxed);
            assert!(!blocks || notified == 1, "owner blocked and nobody woke it");
            if !blocks {
                // Not blocking means the owner goes round its loop and sees the flag.
                let mut queue = std::collections::VecDeque::new();
                assert!(shared.drain_into(&mut queue));
                assert!(woken.load(Relaxed));
            }
        });
    }

    /// Two wakers at once: both tasks arrive, and the owner is notified at most once per park.
    #[test]
    fn two_remote_pushes_notify_at_most_once() {
        loom::model(|| {
            let shared = Remote::new(None).unwrap();
            let blocks = shared.prepare_park();
            let mut handles = Vec::new();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let remote = shared.clone();
                    let (task, handle) = task(&shared);
                    handles.push(handle);
                    loom::thread::spawn(move || assert!(remote.push_remote(task).is_none()))
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert!(blocks);
            assert_eq!(shared.notified.eventfd.load(Relaxed), 1);
            let mut queue = std::collections::VecDeque::new();
            shared.drain_into(&mut queue);
            assert_eq!(queue.len(), 2);
        });
    }
}
