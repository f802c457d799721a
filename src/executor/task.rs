//! A spawned task: its future, then its output, in one allocation shared by its wakers.
//!
//! # Who may touch what, when
//!
//! A task is created by `spawn` on its *owner thread* and belongs to one executor there.
//!
//! * `state` is atomic and may be touched anywhere (wakers set `SCHEDULED` from any thread); its
//!   transitions are in `state.rs`, with loom models.
//! * `stage` (the future, then the output) and `join_waker` are touched only on the owner thread:
//!   by the executor (poll, completion, shutdown) and by the `JoinHandle`, which is `!Send`.
//!   The output is read only once `COMPLETE` is set, which happens after the last poll returned,
//!   so a task that awaits its own handle or aborts itself never aliases the future being polled.
//! * The future and the output are dropped only on the owner thread: when the task completes,
//!   is aborted, or its executor shuts down (which drops every live future through its registry).
//!   So a waker that outlives the runtime on another thread can only ever drop an empty shell.
//!
//! That last point is what makes the `unsafe impl Send + Sync` below sound.

use super::join::JoinError;
use super::remote::Shared;
use super::state::{Run, TaskState};
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The type-erased face of a task the executor runs.
pub(crate) trait Runnable: Send + Sync {
    /// Polls the task once (owner thread only).
    fn run(self: Arc<Self>) -> Ran;
    /// Records where the executor's registry keeps this task.
    fn set_registry_index(&self, index: usize);
    /// Drops the future without polling it (owner thread only; executor shutdown).
    fn shut_down(&self);
}

/// What a poll of a task came to.
pub(crate) enum Ran {
    /// Still pending (and already in the registry).
    Pending,
    /// Pending for the first time: the executor must register it so shutdown can find it.
    /// Tasks that finish in their first poll never touch the registry.
    FirstPending(Arc<dyn Runnable>),
    /// Finished; the registry index to free, if it was registered.
    Finished(Option<usize>),
}

/// No registry slot yet.
const UNREGISTERED: u32 = u32::MAX;

/// The face a `JoinHandle` sees.
pub(crate) trait JoinTarget<T> {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>>;
    fn abort(self: Arc<Self>);
    fn is_finished(&self) -> bool;
    fn detach(&self);
}

pub(crate) struct Task<F: Future> {
    state: TaskState,
    shared: Arc<Shared>,
    /// A `u32` so that it packs with `state`: 8 bytes less per task.
    registry_index: Cell<u32>,
    stage: UnsafeCell<Stage<F>>,
    join_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the non-thread-safe parts (`stage`, `join_waker`, `registry_index`) are only accessed on
// the owner thread, as the module docs lay out; other threads only touch `state` (atomic) and
// `shared` (Sync), and can only drop a task whose future and output are already gone.
unsafe impl<F: Future> Send for Task<F> {}
// SAFETY: as for Send: shared references used off the owner thread only reach atomics.
unsafe impl<F: Future> Sync for Task<F> {}

impl<F: Future + 'static> Task<F> {
    pub(crate) fn new(future: F, shared: Arc<Shared>) -> Self {
        Task {
            state: TaskState::new(),
            shared,
            registry_index: Cell::new(UNREGISTERED),
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: UnsafeCell::new(None),
        }
    }

    fn registered_at(&self) -> Option<usize> {
        Some(self.registry_index.get())
            .filter(|&i| i != UNREGISTERED)
            .map(|i| i as usize)
    }

    /// A waker for this task that borrows the caller's reference: polling does not touch the
    /// reference count unless the future clones the waker.
    fn borrowed_waker(self: &Arc<Self>) -> ManuallyDrop<Waker> {
        let raw = RawWaker::new(Arc::as_ptr(self).cast(), &Self::WAKER_VTABLE);
        // SAFETY: the vtable below upholds the RawWaker contract for a pointer obtained from
        // `Arc::<Task<F>>::as_ptr`; the ManuallyDrop makes this waker not own a count, and it is
        // only used while `self` (which does own one) is alive.
        ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
    }

    const WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::waker_clone,
        Self::waker_wake,
        Self::waker_wake_by_ref,
        Self::waker_drop,
    );

    unsafe fn waker_clone(ptr: *const ()) -> RawWaker {
        // SAFETY: `ptr` came from `Arc::as_ptr` of a live task (the waker being cloned keeps it
        // alive); the new RawWaker owns the count added here.
        unsafe { Arc::increment_strong_count(ptr.cast::<Self>()) };
        RawWaker::new(ptr, &Self::WAKER_VTABLE)
    }

    unsafe fn waker_wake(ptr: *const ()) {
        // SAFETY: an owned waker carries one strong count, which this takes over and drops.
        let task = unsafe { Arc::from_raw(ptr.cast::<Self>()) };
        task.schedule();
    }

    unsafe fn waker_wake_by_ref(ptr: *const ()) {
        // SAFETY: the waker keeps the task alive during the call; ManuallyDrop leaves its count.
        let task = ManuallyDrop::new(unsafe { Arc::from_raw(ptr.cast::<Self>()) });
        task.schedule();
    }

    unsafe fn waker_drop(ptr: *const ()) {
        // SAFETY: an owned waker carries one strong count, released here.
        unsafe { Arc::decrement_strong_count(ptr.cast::<Self>()) };
    }

    fn schedule(self: &Arc<Self>) {
        if !self.state.schedule() {
            return;
        }
        if !super::push_local(&self.shared, self.clone()) {
            self.shared.push_remote(self.clone());
        }
    }

    /// Stores the output (or drops it if detached) and wakes the joiner. Owner thread only.
    fn finish(&self, output: Result<F::Output, JoinError>) {
        if self.state.complete() {
            // Nobody will read it; a panicking Drop must not take the worker down.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(output)));
            return;
        }
        // SAFETY: owner thread, and the future is no longer being polled (see module docs).
        unsafe { *self.stage.get() = Stage::Finished(output) };
        // SAFETY: owner thread; no other reference to the join waker is live.
        let waker = unsafe { (*self.join_waker.get()).take() };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Replaces the stage, returning the old one for the caller to drop outside any borrow.
    fn take_stage(&self) -> Stage<F> {
        // SAFETY: owner thread; called only when no poll of this future is in progress.
        unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Consumed) }
    }
}

impl<F: Future + 'static> Runnable for Task<F> {
    fn set_registry_index(&self, index: usize) {
        let index = u32::try_from(index)
            .ok()
            .filter(|&i| i != UNREGISTERED)
            .expect("coring: more than 4 billion live tasks");
        self.registry_index.set(index);
    }

    fn run(self: Arc<Self>) -> Ran {
        let run = self.state.start_run();
        if run == Run::Skip {
            return Ran::Pending;
        }
        if run == Run::Abort {
            let stage = self.take_stage();
            // A panicking Drop must not take the worker down; the abort still completes.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(stage)));
            self.finish(Err(JoinError::cancelled()));
            return Ran::Finished(self.registered_at());
        }
        let waker = self.borrowed_waker();
        let mut cx = Context::from_waker(&waker);
        // SAFETY: owner thread (only the executor that owns the task calls `run`). The future is
        // never moved while in `Stage::Running`: the task lives in an Arc and the stage is only
        // replaced after the future finished or is being dropped.
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as above: owner thread, no other reference to the stage is live.
            match unsafe { &mut *self.stage.get() } {
                Stage::Running(future) => {
                    // SAFETY: see above: pinned in place inside the Arc until dropped.
                    unsafe { Pin::new_unchecked(future) }.poll(&mut cx)
                }
                _ => unreachable!("coring executor: a running task has no future"),
            }
        }));
        let output = match polled {
            Ok(Poll::Pending) => {
                return match self.registered_at() {
                    Some(_) => Ran::Pending,
                    None => Ran::FirstPending(self),
                };
            }
            Ok(Poll::Ready(output)) => Ok(output),
            Err(panic) => Err(JoinError::panic(panic)),
        };
        // The future is done: drop it now, on this thread, before publishing the output.
        let finished = self.take_stage();
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(finished)));
        let output = match (output, dropped) {
            (Ok(value), Err(panic)) => {
                drop(value);
                Err(JoinError::panic(panic))
            }
            (output, _) => output,
        };
        self.finish(output);
        Ran::Finished(self.registered_at())
    }

    fn shut_down(&self) {
        if self.state.shut_down() {
            let stage = self.take_stage();
            // A panicking drop at shutdown is reported by the panic hook; the rest still go.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(stage)));
        }
        // SAFETY: owner thread.
        let waker = unsafe { (*self.join_waker.get()).take() };
        drop(waker);
    }
}

impl<F: Future + 'static> JoinTarget<F::Output> for Task<F> {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        if !self.state.is_complete() {
            // SAFETY: owner thread (JoinHandle is !Send); `finish` is not running concurrently.
            let slot = unsafe { &mut *self.join_waker.get() };
            match slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        match self.take_stage() {
            Stage::Finished(output) => Poll::Ready(output),
            // Shut down with its runtime before finishing.
            Stage::Consumed => Poll::Ready(Err(JoinError::cancelled())),
            Stage::Running(_) => unreachable!("coring executor: a complete task still runs"),
        }
    }

    fn abort(self: Arc<Self>) {
        self.state.abort();
        // Queue it (unless queued or done) so the executor sees the abort and drops the future.
        self.schedule();
    }

    fn is_finished(&self) -> bool {
        self.state.is_complete()
    }

    fn detach(&self) {
        if self.state.detach() {
            // The output (if any) nobody will read: drop it here, on the owner thread.
            let stage = self.take_stage();
            let _ = catch_unwind(AssertUnwindSafe(|| drop(stage)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's allocation is its whole cost in memory (1M spawned tasks are 1M of these), and
    /// glibc rounds it up in 16-byte steps: keep a small task's `Arc` within 80 bytes.
    #[test]
    fn a_small_task_fits_in_eighty_bytes_with_its_arc_header() {
        let arc_header = 2 * std::mem::size_of::<usize>();
        let task = std::mem::size_of::<Task<std::future::Ready<u64>>>();
        assert!(
            arc_header + task <= 72,
            "Task<Ready<u64>> is {task} bytes: with the Arc counts and malloc's 8-byte header \
             it no longer fits an 80-byte chunk"
        );
    }
}
