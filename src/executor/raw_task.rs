//! A spawned task: one allocation holding its header (state word with the reference count, a
//! vtable, its executor's shared half, the joiner's waker) and its stage (the future, then the
//! output). Run-queue entries, the registry, wakers and the `JoinHandle` all point at it with one
//! thin pointer each, and each holds one counted reference (see `state.rs`).
//!
//! # Who may touch what, when
//!
//! A task is created by `spawn` on its *owner thread* and belongs to one executor there.
//!
//! * `state` is atomic and may be touched anywhere (wakers set `SCHEDULED` and count references
//!   from any thread); its transitions are in `state.rs`, with loom models.
//! * `stage`, `join_waker` and `registry_index` are touched only on the owner thread: by the
//!   executor (poll, completion, shutdown) and by the `JoinHandle`, which is `!Send`. The output
//!   is read only once `COMPLETE` is set, which happens after the last poll returned, so a task
//!   that awaits its own handle or aborts itself never aliases the future being polled.
//! * The future and the output are dropped only on the owner thread: when the task completes,
//!   is aborted, or its executor shuts down (which drops every live future through its registry),
//!   or when the handle is dropped after completion. So the last reference, wherever it goes, only
//!   ever frees an empty stage (and the header: an `Arc`, a `Waker`, both `Send + Sync`), or,
//!   off the owner thread, leaks a task whose stage is not empty (see the end of these docs).
//!
//! That last point is what makes [`TaskRef`] `Send`.
//!
//! # Where a future lives, from spawn to drop
//!
//! `new_task` moves the future, unpolled, into the task's heap allocation (`Stage::Running`),
//! and from there it never moves again: it is polled through a `Pin` made from its place in the
//! allocation, and dropped there by `drop_future` (`ptr::drop_in_place`, then the stage is
//! overwritten with `Consumed` without dropping anything). That is `Pin`'s drop guarantee, on
//! which intrusive lists (tokio's `Notify`) and self-referential `async` blocks rely. Only the
//! output (`Stage::Finished`), which is not pinned, is ever moved out (`take_output`).
//!
//! The future is dropped on the owner thread, in one of three places: by the runner after its
//! last poll (ready or panicked), by the runner when it sees `ABORT`, or by the executor's
//! shutdown. `COMPLETE` is set only once the drop is over, so code run by the future's `Drop`
//! (a waker woken, the task's own `JoinHandle` polled, aborted or dropped) finds a task that is
//! not complete: a handle stores its waker or detaches, and never reads or drops the stage
//! while it is half dropped. A wake during the drop may queue the task; that entry is skipped
//! later, since by then the task is complete.
//!
//! If a shutdown did not run to its end (a panic escaped it), a registry or waker reference may
//! be the last one with a future still in the stage. `dealloc` then drops it in place if it runs
//! on the owner thread, and otherwise leaks the whole task: a `!Send` future must never be
//! dropped on another thread.

use super::handle::JoinHandle;
use super::join::JoinError;
use super::remote::Remote;
use super::state::{Run, TaskState};
use super::unwind::{drop_panic, drop_quietly, drop_quietly_with, Panic};
use super::waker::borrowed_waker;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// What every task starts with, whatever its future; the first field of [`TaskCell`], so a
/// pointer to one is a pointer to the other.
pub(crate) struct Header {
    pub(super) state: TaskState,
    pub(super) vtable: &'static Vtable,
    shared: Arc<Remote>,
    /// Where the executor's registry keeps this task; `UNREGISTERED` until its first pending.
    registry_index: Cell<u32>,
    join_waker: UnsafeCell<Option<Waker>>,
}

#[repr(C)]
pub(super) struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// The functions that know the future's type. Each takes the task's header pointer.
///
/// # Safety
///
/// Calling an entry has the contract written in the `# Safety` section of the generic function
/// it points to (`TaskCell::<F>::run`, `shut_down`, ... in this file): the header must belong to a live task of that very future type, and
/// the caller must hold the reference (or the stage access) that function names.
pub(super) struct Vtable {
    /// Polls (or aborts) the task, consuming the runner's reference.
    pub(super) run: unsafe fn(TaskRef) -> Ran,
    /// Drops the future without polling it (executor shutdown).
    pub(super) shut_down: unsafe fn(NonNull<Header>),
    /// Writes `Poll<Result<F::Output, JoinError>>` to the pointer if the task is complete, else
    /// stores the joiner's waker.
    pub(super) poll_join: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// Drops whatever the stage holds (the handle is dropped after completion).
    pub(super) drop_stage: unsafe fn(NonNull<Header>),
    /// Frees the allocation (the last reference is gone).
    pub(super) dealloc: unsafe fn(NonNull<Header>),
}

/// What a run of a task came to.
pub(crate) enum Ran {
    /// Still pending (and already in the registry), or a stale queue entry.
    Pending,
    /// Pending for the first time: the executor must register it so shutdown can find it.
    /// Tasks that finish in their first poll never touch the registry.
    FirstPending(TaskRef),
    /// Finished; the registry index to free, if it was registered.
    Finished(Option<usize>),
}

/// No registry slot yet.
const UNREGISTERED: u32 = u32::MAX;

/// One counted reference to a task, as the run queues and the registry hold them.
pub(crate) struct TaskRef(pub(super) NonNull<Header>);

// SAFETY: a TaskRef sent to another thread can only reach the atomic state and the `Sync`
// shared half, or drop the last reference; the module docs show why that only frees an empty
// stage (a stage that is not empty is leaked there, never dropped). Running and shutting down,
// which touch the stage, happen on the owner thread only.
unsafe impl Send for TaskRef {}

/// Allocates a task for `future`, returning its run-queue entry and its handle.
pub(crate) fn new_task<F>(future: F, shared: Arc<Remote>) -> (TaskRef, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let cell = Box::new(TaskCell {
        header: Header {
            state: TaskState::new(),
            vtable: &TaskCell::<F>::VTABLE,
            shared,
            registry_index: Cell::new(UNREGISTERED),
            join_waker: UnsafeCell::new(None),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    // The state starts with two references: one for each of these.
    (TaskRef(ptr), JoinHandle::new(ptr))
}

/// Shared access to the header behind a live reference.
///
/// # Safety
///
/// `ptr` must point at a task whose reference count the caller keeps above zero for `'a`.
pub(super) unsafe fn header<'a>(ptr: NonNull<Header>) -> &'a Header {
    // SAFETY: the caller holds a reference, so the allocation is live; the header is only ever
    // accessed through shared references (its mutable parts are cells).
    unsafe { ptr.as_ref() }
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
///
/// The caller owns one reference to the task at `ptr` and gives it up.
pub(super) unsafe fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the task alive until the decrement.
    let header = unsafe { header(ptr) };
    let dealloc = header.vtable.dealloc;
    if header.state.ref_dec() {
        // SAFETY: that was the last reference: nobody else can reach the task.
        unsafe { dealloc(ptr) };
    }
}

impl TaskRef {
    fn header(&self) -> &Header {
        // SAFETY: `self` owns a reference for as long as the borrow lasts.
        unsafe { header(self.0) }
    }

    /// Polls the task once (owner thread only).
    pub(crate) fn run(self) -> Ran {
        let run = self.header().vtable.run;
        // SAFETY: only the owner's executor holds run-queue entries it pops and runs.
        unsafe { run(self) }
    }

    /// Records where the executor's registry keeps this task (owner thread only).
    pub(crate) fn set_registry_index(&self, index: usize) {
        let index = u32::try_from(index)
            .ok()
            .filter(|&i| i != UNREGISTERED)
            .expect("coring: more than 4 billion live tasks");
        self.header().registry_index.set(index);
    }

    /// Drops the future without polling it (owner thread only; executor shutdown).
    pub(crate) fn shut_down(&self) {
        let shut_down = self.header().vtable.shut_down;
        // SAFETY: owner thread (only the executor's shutdown calls this); `self` keeps it alive.
        unsafe { shut_down(self.0) }
    }

    /// Gives up ownership of the reference without dropping it.
    fn into_raw(self) -> NonNull<Header> {
        ManuallyDrop::new(self).0
    }

    /// Queues the task on its executor: the local queue if that executor runs on this thread,
    /// else its remote queue (which hands the task back if the runtime is gone).
    pub(super) fn queue(self) {
        let Err(task) = super::push_local(self.header().shared.id, self) else {
            return;
        };
        let shared = Arc::clone(&task.header().shared);
        // The runtime is gone: its futures were dropped at shutdown, so this frees at most an
        // empty shell; dropped here, once `shared` is no longer borrowed by `push_remote`.
        drop(shared.push_remote(task));
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: a TaskRef owns one reference, given up here.
        unsafe { release(self.0) }
    }
}

impl<F: Future + 'static> TaskCell<F> {
    const VTABLE: Vtable = Vtable {
        run: Self::run,
        shut_down: Self::shut_down,
        poll_join: Self::poll_join,
        drop_stage: Self::drop_stage,
        dealloc: Self::dealloc,
    };

    /// # Safety
    ///
    /// `ptr` is a live task created by `new_task::<F>`, and the caller keeps it alive for `'a`.
    unsafe fn cell<'a>(ptr: NonNull<Header>) -> &'a Self {
        // SAFETY: the header is the first field of a `repr(C)` TaskCell<F>, which is what the
        // allocation is (the vtable that led here is this F's); the caller keeps it alive.
        unsafe { ptr.cast::<Self>().as_ref() }
    }

    /// Drops the future where it lies, pinned in the task, and leaves the stage `Consumed`.
    /// Returns the panic of the future's `Drop`, if it panicked (the future counts as dropped
    /// then too: its fields were dropped while unwinding).
    ///
    /// The stage reads `Running` until the drop is over, but nothing looks: `COMPLETE` is not set
    /// yet (callers set it after this returns), so a `JoinHandle` touched from the future's
    /// `Drop` neither reads nor drops the stage, and the runner, the only one that polls, is
    /// busy right here.
    ///
    /// # Safety
    ///
    /// Owner thread, the caller keeps the task alive, `COMPLETE` is not set, and no reference
    /// into the stage is live (no poll in progress).
    unsafe fn drop_future(&self) -> Option<Panic> {
        let stage = self.stage.get();
        // SAFETY: owner thread and no other reference into the stage (the caller's contract).
        let Stage::Running(future) = (unsafe { &mut *stage }) else {
            return None;
        };
        let future: *mut F = future;
        // SAFETY: the future has been pinned at `future` since its first poll and is dropped
        // there, once: the stage is overwritten below without dropping it again.
        let panic = catch_unwind(AssertUnwindSafe(|| unsafe {
            std::ptr::drop_in_place(future)
        }))
        .err();
        // SAFETY: as above; `write` does not drop the old, already dropped, value.
        unsafe { std::ptr::write(stage, Stage::Consumed) };
        panic
    }

    /// Takes the output out of the stage (an output is not pinned: it may move), leaving
    /// `Consumed`; `None` if there is no output (never moves a future).
    ///
    /// # Safety
    ///
    /// Owner thread, the caller keeps the task alive, no reference into the stage is live.
    unsafe fn take_output(&self) -> Option<Result<F::Output, JoinError>> {
        // SAFETY: owner thread, no other reference into the stage (the caller's contract).
        let stage = unsafe { &mut *self.stage.get() };
        if !matches!(stage, Stage::Finished(_)) {
            return None;
        }
        match std::mem::replace(stage, Stage::Consumed) {
            Stage::Finished(output) => Some(output),
            _ => None,
        }
    }

    /// Polls the task, or drops its future if aborted; completes it when the future is gone.
    ///
    /// # Safety
    ///
    /// Owner thread, called by its executor's loop (never inside a poll of this task); `task`
    /// is a run-queue entry of a task made by `new_task::<F>`.
    unsafe fn run(task: TaskRef) -> Ran {
        // SAFETY: `task` keeps it alive for this call; its vtable is this F's.
        let this = unsafe { Self::cell(task.0) };
        match this.header.state.start_run() {
            // A stale entry (the task completed while queued): drops the entry's reference.
            Run::Skip => return Ran::Pending,
            Run::Abort => {
                // A panicking Drop must not take the worker down; the abort still completes.
                // SAFETY: owner thread, not complete (`start_run` said so), no poll in progress.
                if let Some(panic) = unsafe { this.drop_future() } {
                    drop_panic(panic);
                }
                return Self::finish(task, Err(JoinError::cancelled()));
            }
            Run::Poll => {}
        }
        let waker = borrowed_waker(task.0);
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: owner thread (only the owner's executor runs the task), and no other
            // reference to the stage is live during the poll (see the module docs).
            match unsafe { &mut *this.stage.get() } {
                Stage::Running(future) => {
                    // SAFETY: the future is never moved while in `Stage::Running`: it lives in
                    // the task's heap allocation until it is dropped in place or replaced.
                    unsafe { Pin::new_unchecked(future) }.poll(&mut cx)
                }
                _ => unreachable!("coring executor: a running task has no future"),
            }
        }));
        let output = match polled {
            Ok(Poll::Pending) => {
                return if this.header.registry_index.get() == UNREGISTERED {
                    Ran::FirstPending(task)
                } else {
                    Ran::Pending
                };
            }
            Ok(Poll::Ready(output)) => Ok(output),
            Err(panic) => Err(JoinError::panic(panic)),
        };
        // The future is done: drop it now, in place, before publishing the output.
        // SAFETY: owner thread, not complete (only this runner completes it), the poll is over.
        let dropped = unsafe { this.drop_future() };
        let output = match (output, dropped) {
            (Ok(value), Some(panic)) => {
                // The output's own Drop may panic too: that must not unwind out of the worker.
                drop_quietly(value);
                Err(JoinError::panic(panic))
            }
            (output, panic) => {
                if let Some(panic) = panic {
                    drop_panic(panic);
                }
                output
            }
        };
        Self::finish(task, output)
    }

    /// Completes the task with `output`, giving up the runner's reference in the same step:
    /// stores the output and wakes the joiner, or drops the output if the handle is gone.
    fn finish(task: TaskRef, output: Result<F::Output, JoinError>) -> Ran {
        let registered = {
            let index = task.header().registry_index.get();
            (index != UNREGISTERED).then_some(index as usize)
        };
        let ptr = task.into_raw();
        // SAFETY: the runner's reference (now `ptr`) keeps the task alive until the transition.
        let this = unsafe { Self::cell(ptr) };
        let completed = this.header.state.complete_and_release();
        if completed.detached {
            // Nobody will read it; a panicking Drop must not take the worker down.
            drop_quietly(output);
            if completed.last {
                // SAFETY: that was the last reference: nobody else can reach the task.
                unsafe { Self::dealloc(ptr) };
            }
            return Ran::Finished(registered);
        }
        // Not detached: the handle, on this thread and not running now, still holds a reference,
        // so the task stays alive below although the runner's reference is gone.
        debug_assert!(!completed.last);
        // SAFETY: owner thread, the future is gone and no other reference to the stage is live.
        unsafe { *this.stage.get() = Stage::Finished(output) };
        // SAFETY: owner thread; no other reference to the join waker is live.
        let waker = unsafe { (*this.header.join_waker.get()).take() };
        if let Some(waker) = waker {
            // The joiner's waker may be anybody's (a user's `Wake`): its panic stays here.
            drop_quietly_with(waker, Waker::wake);
        }
        Ran::Finished(registered)
    }

    /// Drops the future in place (if still there) and marks the task complete.
    ///
    /// # Safety
    ///
    /// Owner thread, from the executor's shutdown (never inside a poll of this task); the
    /// caller keeps the task, made by `new_task::<F>`, alive.
    unsafe fn shut_down(ptr: NonNull<Header>) {
        // SAFETY: the executor's reference keeps it alive for this call.
        let this = unsafe { Self::cell(ptr) };
        if !this.header.state.is_complete() {
            // A panicking drop at shutdown is reported by the panic hook; the rest still go.
            // SAFETY: owner thread, not complete, and shutdown never runs inside a poll.
            if let Some(panic) = unsafe { this.drop_future() } {
                drop_panic(panic);
            }
            // Only now: until the future is gone, a handle must not see an output to take.
            this.header.state.shut_down();
        }
        // SAFETY: owner thread; no other reference to the join waker is live.
        let waker = unsafe { (*this.header.join_waker.get()).take() };
        // The joiner's waker may be a user's, whose Drop may panic: shutdown goes on.
        drop_quietly(waker);
    }

    /// The handle's poll: writes the output to `out` if complete, else stores `waker`.
    ///
    /// # Safety
    ///
    /// Owner thread; the handle's reference keeps the task, made by `new_task::<F>`, alive;
    /// `out` points at a `Poll<Result<F::Output, JoinError>>`.
    unsafe fn poll_join(ptr: NonNull<Header>, out: *mut (), waker: &Waker) {
        // SAFETY: the handle's reference keeps it alive for this call.
        let this = unsafe { Self::cell(ptr) };
        if !this.header.state.is_complete() {
            // SAFETY: owner thread (JoinHandle is !Send); `finish` is not running concurrently.
            let slot = unsafe { &mut *this.header.join_waker.get() };
            match slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
            return;
        }
        // No output: shut down with its runtime before finishing.
        // SAFETY: owner thread (the handle is !Send), the task is complete so nothing polls it.
        let output = unsafe { this.take_output() }.unwrap_or_else(|| Err(JoinError::cancelled()));
        // SAFETY: the handle passes a `*mut Poll<Result<T, JoinError>>` where T is this F's output
        // (a JoinHandle<T> is only ever made by `new_task::<F>` with `F::Output = T`).
        unsafe { *out.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
    }

    /// Drops an output nobody will read (the handle goes after completion).
    ///
    /// # Safety
    ///
    /// Owner thread, the task is complete, and the handle's reference keeps the task, made by
    /// `new_task::<F>`, alive.
    unsafe fn drop_stage(ptr: NonNull<Header>) {
        // SAFETY: the handle's reference keeps it alive; owner thread, task complete.
        let output = unsafe { Self::cell(ptr).take_output() };
        drop_quietly(output);
    }

    /// Frees the task. Its stage is empty by then (module docs), except when a shutdown did
    /// not finish: on the owner thread the future is dropped in place with the allocation, on any
    /// other thread the task is leaked, since its future and output may be `!Send`.
    ///
    /// # Safety
    ///
    /// The last reference is gone, and `ptr` came from `new_task::<F>`.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last reference is gone (its release was acquire-release, so every write to
        // the stage is visible here) and nothing else points at the allocation.
        let this = unsafe { Self::cell(ptr) };
        // SAFETY: as above: nobody else can reach the stage.
        let empty = matches!(unsafe { &*this.stage.get() }, Stage::Consumed);
        if !empty && !this.header.shared.is_owner_thread() {
            return;
        }
        // SAFETY: `new_task::<F>` made the allocation with `Box<TaskCell<F>>`; a Box drops its
        // contents in place, so a future still there is dropped where it was pinned.
        let task = unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) };
        drop_quietly(task);
    }
}
