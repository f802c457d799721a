//! A task's state word: the one part of a task that any thread may touch.
//!
//! | flag        | set by                              | cleared by                    |
//! |-------------|-------------------------------------|-------------------------------|
//! | `SCHEDULED` | a wake (any thread), and `spawn`     | the owner, just before a poll |
//! | `COMPLETE`  | the owner: finished, aborted, shut down | never                      |
//! | `ABORT`     | `JoinHandle::abort` (owner thread)   | never                         |
//! | `DETACHED`  | dropping the `JoinHandle`, shutdown  | never                         |
//!
//! Every transition is one read-modify-write, so they are totally ordered. Why no wake is lost:
//! the owner clears `SCHEDULED` *before* it polls, with acquire-release ordering. A wake that
//! lands before the clear is absorbed (the task is queued already), and the poll that follows
//! sees what the waker published before waking; a wake after the clear finds `SCHEDULED` unset
//! and queues the task again. A task is queued at most once at a time, and never after
//! `COMPLETE`. The loom models below check this over every interleaving.

#[cfg(loom)]
use loom::sync::atomic::AtomicU8;
#[cfg(not(loom))]
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

/// Queued to run (locally or remotely); cleared just before a poll.
const SCHEDULED: u8 = 1 << 0;
/// The future finished (or was aborted or panicked); the stage holds the output or is consumed.
const COMPLETE: u8 = 1 << 1;
/// `abort()` was called; the next run drops the future.
const ABORT: u8 = 1 << 2;
/// The `JoinHandle` was dropped: an output is dropped as soon as it is produced.
const DETACHED: u8 = 1 << 3;

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

/// See the module docs.
#[derive(Debug)]
pub(crate) struct TaskState(AtomicU8);

impl TaskState {
    /// A new task, scheduled: `spawn` queues it.
    pub(crate) fn new() -> Self {
        TaskState(AtomicU8::new(SCHEDULED))
    }

    /// A wake: `true` if the caller must queue the task (it was neither queued nor complete).
    pub(crate) fn schedule(&self) -> bool {
        self.0.fetch_or(SCHEDULED, AcqRel) & (SCHEDULED | COMPLETE) == 0
    }

    /// The owner took the task from its queue. Owner thread only.
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

    /// The future is gone and the output (if any) is about to be stored. Returns whether the
    /// handle was dropped, in which case the output must be dropped instead. Owner thread only.
    pub(crate) fn complete(&self) -> bool {
        self.0.fetch_or(COMPLETE, AcqRel) & DETACHED != 0
    }

    /// Shutdown: complete and detach at once. Returns whether the future was still there.
    pub(crate) fn shut_down(&self) -> bool {
        self.0.fetch_or(COMPLETE | DETACHED, AcqRel) & COMPLETE == 0
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Acquire) & COMPLETE != 0
    }

    /// Marks the task aborted; the caller then schedules it so the owner sees it.
    pub(crate) fn abort(&self) {
        self.0.fetch_or(ABORT, AcqRel);
    }

    /// The handle was dropped. Returns whether the task had completed already (so its stored
    /// output must be dropped now).
    pub(crate) fn detach(&self) -> bool {
        self.0.fetch_or(DETACHED, AcqRel) & COMPLETE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_queued_once_until_it_runs_and_never_after_completing() {
        let state = TaskState::new();
        assert!(!state.schedule(), "a new task is queued by spawn");
        assert_eq!(state.start_run(), Run::Poll);
        assert!(state.schedule());
        assert!(!state.schedule(), "queued already");
        assert_eq!(state.start_run(), Run::Poll);
        assert!(!state.complete());
        assert!(state.is_complete());
        assert!(!state.schedule(), "complete tasks are not queued");
        assert_eq!(state.start_run(), Run::Skip);
        assert!(state.detach());
    }

    #[test]
    fn abort_makes_the_next_run_drop_the_future() {
        let state = TaskState::new();
        assert_eq!(state.start_run(), Run::Poll);
        state.abort();
        assert!(state.schedule());
        assert_eq!(state.start_run(), Run::Abort);
        assert!(!state.complete());
    }

    #[test]
    fn shutdown_reports_whether_the_future_was_still_there() {
        let state = TaskState::new();
        assert!(!state.detach());
        assert!(state.shut_down());
        assert!(!state.shut_down());
        assert!(state.complete(), "detached");
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

        fn state(&self) -> &TaskState {
            &self.state
        }

        fn wake(&self) {
            if self.state().schedule() {
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
            let model = Model::pending_task();
            // Woken once (queued), so the owner runs it again while the waker acts.
            model.wake();
            let waker = {
                let model = model.clone();
                loom::thread::spawn(move || {
                    model.ready.store(true, Relaxed);
                    model.wake();
                })
            };
            model.queued.fetch_sub(1, SeqCst); // the owner takes it from the queue
            assert_eq!(model.state().start_run(), Run::Poll);
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
            let model = Model::pending_task();
            model.wake();
            let waker = {
                let model = model.clone();
                loom::thread::spawn(move || model.wake())
            };
            model.queued.fetch_sub(1, SeqCst);
            assert_eq!(model.state().start_run(), Run::Poll);
            assert!(!model.state().complete()); // the poll finished the future
            waker.join().unwrap();
            if model.queued.load(SeqCst) == 1 {
                assert_eq!(model.state().start_run(), Run::Skip);
            }
            assert!(!model.state().schedule(), "queued after completing");
        });
    }
}
