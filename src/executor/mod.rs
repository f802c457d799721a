//! The per-thread executor: a run queue of tasks, the registry of live ones, remote wakes.
//!
//! Nothing here knows about io_uring: the runtime asks the executor to run ready tasks (a bounded
//! number per turn, so I/O and timers are serviced even if tasks keep waking each other), and the
//! executor's `Remote` half tells the runtime's ring to wake when another thread wakes a task.
//!
//! Rule: no `RefCell` borrow is held while a task is polled, and `wake` only enqueues.

mod handle;
mod join;
mod raw_task;
mod remote;
mod state;
#[cfg(test)]
mod tests;
mod unwind;
mod waker;

pub use handle::JoinHandle;
pub use join::JoinError;
pub(crate) use remote::{wake_through_eventfd, Injected, Remote, RingNotifier};

use raw_task::{new_task, Ran, TaskRef};
use slab::Slab;
use std::cell::Cell;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

pub(crate) struct Executor {
    shared: Arc<Remote>,
    queue: RefCell<VecDeque<TaskRef>>,
    /// Every live task, so shutdown can drop every future (even those only reachable from a
    /// cycle of wakers).
    registry: RefCell<Slab<TaskRef>>,
    /// Tasks spawned and not finished (registered or not).
    live: Cell<usize>,
}

impl Executor {
    pub(crate) fn new(notifier: Option<RingNotifier>) -> io::Result<Self> {
        Ok(Executor {
            shared: Remote::new(notifier)?,
            queue: RefCell::new(VecDeque::with_capacity(256)),
            registry: RefCell::new(Slab::with_capacity(256)),
            live: Cell::new(0),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Remote> {
        &self.shared
    }

    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (task, handle) = new_task(future, self.shared.clone());
        // Registered only if its first poll leaves it pending: until then the run queue holds it.
        self.live.set(self.live.get() + 1);
        self.shared.counters.live_tasks.bump();
        self.queue.borrow_mut().push_back(task);
        handle
    }

    /// Runs up to `budget` ready tasks. Returns whether some are still ready.
    pub(crate) fn run_ready(&self, budget: usize) -> bool {
        for _ in 0..budget {
            let next = self.queue.borrow_mut().pop_front();
            let Some(task) = next else { return false };
            self.shared.counters.tasks_polled.bump();
            match crate::task::coop::budgeted(|| task.run()) {
                Ran::Pending => {}
                Ran::FirstPending(task) => {
                    let mut registry = self.registry.borrow_mut();
                    let entry = registry.vacant_entry();
                    task.set_registry_index(entry.key());
                    entry.insert(task);
                }
                Ran::Finished(index) => {
                    self.live.set(self.live.get() - 1);
                    self.shared.counters.live_tasks.sub(1);
                    if let Some(index) = index {
                        let removed = self.registry.borrow_mut().try_remove(index);
                        drop(removed);
                    }
                }
            }
        }
        !self.queue.borrow().is_empty()
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.queue.borrow().is_empty()
    }

    /// Moves tasks woken from other threads into the run queue.
    pub(crate) fn drain_remote(&self) {
        let pending = self.shared.drain_into(&mut self.queue.borrow_mut());
        if pending {
            for work in self.shared.take_injected() {
                work();
            }
        }
    }

    /// Number of live tasks.
    pub(crate) fn live_tasks(&self) -> usize {
        self.live.get()
    }

    /// Drops every live task's future, on this thread. Futures may wake or spawn while dropped;
    /// repeats until nothing is left.
    pub(crate) fn shut_down(&self) {
        let (remote, injected) = self.shared.close();
        // Work sent from other threads that never ran: dropping it drops its reply channels,
        // which tells the senders. Every step here runs user code (drops, a joiner's waker) and
        // none may cut shutdown short: a task left behind would have its `!Send` future
        // dropped by whichever thread drops its last waker.
        for work in injected {
            unwind::drop_quietly(work);
        }
        let mut tasks = remote;
        loop {
            tasks.extend(self.registry.borrow_mut().drain());
            tasks.extend(self.queue.borrow_mut().drain(..));
            if tasks.is_empty() {
                break;
            }
            // Dropping futures may wake or spawn tasks; the loop picks those up.
            for task in tasks.drain(..) {
                task.shut_down();
            }
        }
        self.live.set(0);
        self.shared.counters.live_tasks.set(0);
    }

    /// How often this executor's owner was woken from other threads, by which path.
    pub(crate) fn notify_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let counts = &self.shared.notified;
        (counts.msg_ring.load(Relaxed), counts.eventfd.load(Relaxed))
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

/// Makes `executor` the current thread's executor, returning the previous one. Once the slot
/// is destroyed (thread exit) nothing is current, and `executor` is handed back instead.
pub(crate) fn set_current(executor: Option<Rc<Executor>>) -> Option<Rc<Executor>> {
    crate::thread_slot::replace(&CURRENT, executor)
}

/// Queues `task` on this thread's executor if that is the task's own (executor `id`); hands it
/// back otherwise.
fn push_local(id: usize, task: TaskRef) -> Result<(), TaskRef> {
    let mut task = Some(task);
    // Queued under the slot's borrow rather than through a clone of the `Rc`: pushing runs no
    // user code, and every local wake takes this path. A destroyed slot (thread exit) means no
    // executor runs here.
    let _ = CURRENT.try_with(|c| {
        if let Ok(current) = c.try_borrow() {
            if let Some(executor) = current.as_ref().filter(|e| e.shared.id == id) {
                if let Some(task) = task.take() {
                    executor.shared.counters.local_wakes.bump();
                    executor.queue.borrow_mut().push_back(task);
                }
            }
        }
    });
    match task {
        None => Ok(()),
        Some(task) => Err(task),
    }
}

/// Whether the executor owning `shared` is the one running on this thread.
pub(crate) fn is_current(shared: &Remote) -> bool {
    CURRENT
        .try_with(
            |c| matches!(c.try_borrow().ok().as_deref(), Some(Some(e)) if e.shared.id == shared.id),
        )
        .unwrap_or(false)
}

/// Spawns a task on the current thread's executor.
///
/// # Panics
///
/// Outside a coring runtime.
#[track_caller]
pub(crate) fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let executor = CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .expect(
            "coring: spawn called outside a runtime; call it inside coring::block_on, \
         Runtime::block_on or a task spawned there",
        );
    executor.spawn(future)
}
