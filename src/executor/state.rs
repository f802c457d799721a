//! A task's state word: the one part of a task that any thread may touch. It holds four flags
//! and, above them, the task's reference count, so that most transitions a task goes through
//! (queue it and take a reference, complete it and drop the runner's reference) are a single
//! read-modify-write.
//!
//! | flag        | set by                              | cleared by                    |
//! |-------------|-------------------------------------|-------------------------------|
//! | `SCHEDULED` | a wake (any thread), and `spawn`     | the owner, just before a poll |
//! | `COMPLETE`  | the owner: finished, aborted, shut down | never                      |
//! | `ABORT`     | `JoinHandle::abort` (owner thread)   | never                         |
//! | `DETACHED`  | dropping the `JoinHandle` before the output was read | never         |
//!
//! References are held by the `JoinHandle`, by the run-queue entry while `SCHEDULED` is set (the
//! wake that sets it takes that reference, or hands over its own), by the executor's registry
//! while the task is pending, and by every waker. The last one to go frees the task.
//!
//! Every transition is one read-modify-write, so they are totally ordered. Why no wake is lost:
//! the owner clears `SCHEDULED` *before* it polls, with acquire-release ordering. A wake that
//! lands before the clear is absorbed (the task is queued already), and the poll that follows
//! sees what the waker published before waking; a wake after the clear finds `SCHEDULED` unset
//! and queues the task again. A task is queued at most once at a time, and never after
//! `COMPLETE`. The loom models below check this over every interleaving.

#[cfg(loom)]
use loom::sync::atomic::AtomicUsize;
#[cfg(not(loom))]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// Queued to run (locally or remotely); cleared just before a poll.
const SCHEDULED: usize = 1 << 0;
/// The future finished (or was aborted or panicked); the stage holds the output or is consumed.
const COMPLETE: usize = 1 << 1;
/// `abort()` was called; the next run drops the future.
const ABORT: usize = 1 << 2;
/// The `JoinHandle` was dropped: an output is dropped as soon as it is produced.
const DETACHED: usize = 1 << 3;
/// One reference, counted above the flags.
const REF_ONE: usize = 1 << 4;

fn refs(word: usize) -> usize {
    word / REF_ONE
}

/// What the owner should do with a task it took from the run queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// Already complete (a stale queue entry): nothing to do.
    Skip,
    /// Aborted: drop the future and complete.
    Abort,
    /// Poll the future.
    Poll,
}

/// What a wake that owned a reference came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeByValue {
    /// The caller must queue the task; its reference now belongs to the queue entry.
    Queue,
    /// Queued already or complete: the reference was dropped; `true` if it was the last.
    Released(bool),
}

/// What completing a task came to (the runner's reference is gone either way).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Completed {
    /// The handle was dropped: the output must be dropped, not stored.
    pub(crate) detached: bool,
    /// The runner's reference was the last one: the task must be freed.
    pub(crate) last: bool,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct TaskState(AtomicUsize);

impl TaskState {
    /// A new task, scheduled (`spawn` queues it), referenced by its queue entry and its handle.
    pub(crate) fn new() -> Self {
        TaskState(AtomicUsize::new(SCHEDULED | (2 * REF_ONE)))
    }

    /// Takes one more reference (a waker clone).
    pub(crate) fn ref_inc(&self) {
        // Relaxed, as `Arc::clone`: the new reference is derived from a live one.
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        if prev > isize::MAX as usize {
            // As std's Arc: billions of leaked wakers; the count must never wrap.
            std::process::abort();
        }
    }

    /// Drops one reference; `true` if it was the last (the caller frees the task).
    pub(crate) fn ref_dec(&self) -> bool {
        refs(self.0.fetch_sub(REF_ONE, AcqRel)) == 1
    }

    /// A wake through a borrowed reference: `true` if the caller must queue the task (it was
    /// neither queued nor complete); the queue entry's reference has then been taken.
    pub(crate) fn schedule_by_ref(&self) -> bool {
        let mut current = self.0.load(Acquire);
        loop {
            let queue = current & (SCHEDULED | COMPLETE) == 0;
            // Already queued: still a read-modify-write (writing the value back), never a plain
            // load. A load that sees `SCHEDULED` just before the owner clears it would not order
            // what this waker published before the owner's poll (the store-buffer pattern: the
            // loom model `a_wake_during_a_poll_is_not_lost` fails with a plain load).
            let next = if queue {
                (current | SCHEDULED) + REF_ONE
            } else {
                current
            };
            match self.0.compare_exchange_weak(current, next, AcqRel, Acquire) {
                Ok(_) => return queue,
                Err(actual) => current = actual,
            }
        }
    }

    /// A wake that owns a reference (`Waker::wake`): hands it to the queue entry, or drops it.
    pub(crate) fn schedule_by_value(&self) -> WakeByValue {
        let mut current = self.0.load(Acquire);
        loop {
            let (next, outcome) = if current & (SCHEDULED | COMPLETE) != 0 {
                (current - REF_ONE, WakeByValue::Released(refs(current) == 1))
            } else {
                (current | SCHEDULED, WakeByValue::Queue)
            };
            match self.0.compare_exchange_weak(current, next, AcqRel, Acquire) {
                Ok(_) => return outcome,
                Err(actual) => current = actual,
            }
        }
    }

    /// The owner took the task from its queue (the entry's reference is now the runner's).
    /// Owner thread only.
    pub(crate) fn start_run(&self) -> Run {
        let prev = self.0.fetch_and(!SCHEDULED, AcqRel);
        if prev & COMPLETE != 0 {
            Run::Skip
        } else if prev & ABORT != 0 {
            Run::Abort
        } else {
            Run::Poll
        }
    }

    /// The future is gone: sets `COMPLETE` and drops the runner's reference, in one step. Owner
    /// thread only, and only on a task not yet complete.
    pub(crate) fn complete_and_release(&self) -> Completed {
        // COMPLETE is clear (only the owner sets it, and it is not set yet), so subtracting
        // `REF_ONE - COMPLETE` sets it and drops one reference without a carry.
        let prev = self.0.fetch_sub(REF_ONE - COMPLETE, AcqRel);
        debug_assert!(prev & COMPLETE == 0 && refs(prev) >= 1);
        Completed {
            detached: prev & DETACHED != 0,
            last: refs(prev) == 1,
        }
    }

    /// Shutdown: marks the task complete. Returns whether the future was still there.
    pub(crate) fn shut_down(&self) -> bool {
        self.0.fetch_or(COMPLETE, AcqRel) & COMPLETE == 0
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Acquire) & COMPLETE != 0
    }

    /// Marks the task aborted; the caller then schedules it so the owner sees it.
    pub(crate) fn abort(&self) {
        self.0.fetch_or(ABORT, AcqRel);
    }

    /// The handle is dropped: sets `DETACHED` and drops the handle's reference, in one step;
    /// `true` if it was the last. Only the handle sets `DETACHED`, once.
    pub(crate) fn detach_and_release(&self) -> bool {
        let prev = self.0.fetch_sub(REF_ONE - DETACHED, AcqRel);
        debug_assert!(prev & DETACHED == 0 && refs(prev) >= 1);
        refs(prev) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_queued_once_until_it_runs_and_never_after_completing() {
        let state = TaskState::new();
        assert!(!state.schedule_by_ref(), "a new task is queued by spawn");
        assert_eq!(state.start_run(), Run::Poll);
        assert!(state.schedule_by_ref());
        assert!(!state.schedule_by_ref(), "queued already");
        assert_eq!(state.start_run(), Run::Poll);
        // refs: handle, the first queue entry (now the runner's), the second entry.
        assert_eq!(refs(state.0.load(Acquire)), 3);
        assert!(!state.ref_dec());
        let done = state.complete_and_release();
        assert_eq!(
            done,
            Completed {
                detached: false,
                last: false
            }
        );
        assert!(state.is_complete());
        assert!(!state.schedule_by_ref(), "complete tasks are not queued");
        assert_eq!(state.start_run(), Run::Skip);
        assert!(
            state.detach_and_release(),
            "the handle was the last reference"
        );
    }

    #[test]
    fn a_wake_by_value_hands_its_reference_to_the_queue_or_drops_it() {
        let state = TaskState::new();
        assert_eq!(state.start_run(), Run::Poll);
        state.ref_inc(); // a waker clone
        assert!(
            !state.ref_dec(),
            "the runner's reference; the task goes pending"
        );
        assert_eq!(state.schedule_by_value(), WakeByValue::Queue);
        state.ref_inc(); // another waker
        assert_eq!(state.schedule_by_value(), WakeByValue::Released(false));
        assert_eq!(refs(state.0.load(Acquire)), 2, "handle and queue entry");
    }

    #[test]
    fn abort_makes_the_next_run_drop_the_future() {
        let state = TaskState::new();
        assert_eq!(state.start_run(), Run::Poll);
        state.abort();
        assert!(state.schedule_by_ref());
        assert_eq!(state.start_run(), Run::Abort);
        assert!(!state.complete_and_release().detached);
    }

    #[test]
    fn a_detached_task_completes_with_its_last_reference() {
        let state = TaskState::new();
        assert!(!state.detach_and_release());
        assert_eq!(state.start_run(), Run::Poll);
        assert_eq!(
            state.complete_and_release(),
            Completed {
                detached: true,
                last: true
            }
        );
    }

    #[test]
    fn shutdown_reports_whether_the_future_was_still_there() {
        let state = TaskState::new();
        assert!(state.shut_down());
        assert!(!state.shut_down());
        assert!(state.is_complete());
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_model`.
    use super::*;
    use loom::sync::atomic::{AtomicBool, AtomicUsize};
    use loom::sync::Arc;
    use std::sync::atomic::Ordering::{Relaxed, SeqCst};

    /// One task, its run queue (how many entries of it the queue holds) and what it waits for.
    struct Model {
        state: TaskState,
        queued: AtomicUsize,
        /// What the task's future waits for, published by the waker before it wakes.
        ready: AtomicBool,
    }

    impl Model {
        fn pending_task() -> Arc<Model> {
            let model = Model {
                state: TaskState::new(),
                queued: AtomicUsize::new(0),
                ready: AtomicBool::new(false),
            };
            // Spawned (queued), taken by the owner, polled: pending.
            assert_eq!(model.state().start_run(), Run::Poll);
            Arc::new(model)
        }

        /// A pending task woken once (queued), then taken from the queue by its owner, which
        /// starts polling it again while `waker` acts on another thread (returned to join).
        fn polled_while(
            waker: impl FnOnce(&Model) + Send + 'static,
        ) -> (Arc<Model>, loom::thread::JoinHandle<()>) {
            let model = Model::pending_task();
            model.wake();
            let thread = {
                let model = model.clone();
                loom::thread::spawn(move || waker(&model))
            };
            model.queued.fetch_sub(1, SeqCst); // the owner takes it from the queue
            assert_eq!(model.state().start_run(), Run::Poll);
            (model, thread)
        }

        fn state(&self) -> &TaskState {
            &self.state
        }

        fn wake(&self) {
            if self.state().schedule_by_ref() {
                let before = self.queued.fetch_add(1, SeqCst);
                assert_eq!(before, 0, "a task was queued twice");
            }
        }
    }

    /// A wake racing the owner's poll is never lost: either that poll saw the waker's data, or
    /// the task is queued again.
    #[test]
    fn a_wake_during_a_poll_is_not_lost() {
        loom::model(|| {
            let (model, waker) = Model::polled_while(|model| {
                model.ready.store(true, Relaxed);
                model.wake();
            });
            let saw_ready = model.ready.load(Relaxed); // the poll
            waker.join().unwrap();
            let queued = model.queued.load(SeqCst);
            assert!(
                saw_ready || queued == 1,
                "the poll missed the data and the task was not queued again"
            );
            assert!(queued <= 1);
        });
    }

    /// Two threads waking an idle task queue it exactly once.
    #[test]
    fn two_wakers_queue_an_idle_task_once() {
        loom::model(|| {
            let model = Model::pending_task();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let model = model.clone();
                    loom::thread::spawn(move || model.wake())
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(model.queued.load(SeqCst), 1);
        });
    }

    /// A wake racing completion: the task may be queued once, and a stale entry is skipped.
    #[test]
    fn a_wake_racing_completion_leaves_at_most_a_skipped_entry() {
        loom::model(|| {
            let (model, waker) = Model::polled_while(Model::wake);
            assert!(!model.state().complete_and_release().detached); // the poll finished the future
            waker.join().unwrap();
            if model.queued.load(SeqCst) == 1 {
                assert_eq!(model.state().start_run(), Run::Skip);
            }
            assert!(!model.state().schedule_by_ref(), "queued after completing");
        });
    }

    /// A waker dropping its reference on another thread while the owner completes the task and
    /// the handle is dropped: exactly one of them sees the last reference go.
    #[test]
    fn exactly_one_party_frees_the_task() {
        loom::model(|| {
            let state = Arc::new(TaskState::new());
            assert_eq!(state.start_run(), Run::Poll);
            state.ref_inc(); // a waker, sent to another thread
            let waker = {
                let state = state.clone();
                loom::thread::spawn(move || match state.schedule_by_value() {
                    WakeByValue::Queue => {
                        // The queue entry is taken by the owner later; model it as dropped.
                        usize::from(state.ref_dec())
                    }
                    WakeByValue::Released(last) => usize::from(last),
                })
            };
            let mut freed = usize::from(state.complete_and_release().last);
            freed += usize::from(state.detach_and_release());
            freed += waker.join().unwrap();
            assert_eq!(freed, 1, "the task was freed {freed} times");
        });
    }
}
