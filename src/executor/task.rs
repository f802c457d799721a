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
//!   ever frees an empty stage (and the header: an `Arc`, a `Waker`, both `Send + Sync`).
//!
//! That last point is what makes [`TaskRef`] `Send`.

use super::join::JoinError;
use super::remote::Shared;
use super::state::{Run, TaskState, WakeByValue};
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// What every task starts with, whatever its future; the first field of [`TaskCell`], so a
/// pointer to one is a pointer to the other.
pub(crate) struct Header {
    state: TaskState,
    vtable: &'static Vtable,
    shared: Arc<Shared>,
    /// Where the executor's registry keeps this task; `UNREGISTERED` until its first pending.
    registry_index: Cell<u32>,
    join_waker: UnsafeCell<Option<Waker>>,
}

#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// The functions that know the future's type. Each takes the task's header pointer.
struct Vtable {
    /// Polls (or aborts) the task, consuming the runner's reference.
    run: unsafe fn(TaskRef) -> Ran,
    /// Drops the future without polling it (executor shutdown).
    shut_down: unsafe fn(NonNull<Header>),
    /// Writes `Poll<Result<F::Output, JoinError>>` to the pointer if the task is complete, else
    /// stores the joiner's waker.
    poll_join: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// Drops whatever the stage holds (the handle is dropped after completion).
    drop_stage: unsafe fn(NonNull<Header>),
    /// Frees the allocation (the last reference is gone).
    dealloc: unsafe fn(NonNull<Header>),
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
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: a TaskRef sent to another thread can only reach the atomic state and the `Sync`
// shared half, or drop the last reference; the module docs show why that only frees an empty
// stage. Running and shutting down, which touch the stage, happen on the owner thread only.
unsafe impl Send for TaskRef {}

/// Allocates a task for `future`, returning its run-queue entry and its handle.
pub(crate) fn new_task<F>(future: F, shared: Arc<Shared>) -> (TaskRef, JoinHandle<F::Output>)
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
    (
        TaskRef(ptr),
        JoinHandle {
            task: Some(ptr),
            _marker: PhantomData,
        },
    )
}

/// Shared access to the header behind a live reference.
///
/// # Safety
///
/// `ptr` must point at a task whose reference count the caller keeps above zero for `'a`.
unsafe fn header<'a>(ptr: NonNull<Header>) -> &'a Header {
    // SAFETY: the caller holds a reference, so the allocation is live; the header is only ever
    // accessed through shared references (its mutable parts are cells).
    unsafe { ptr.as_ref() }
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
///
/// The caller owns one reference to the task at `ptr` and gives it up.
unsafe fn release(ptr: NonNull<Header>) {
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
    fn queue(self) {
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

/// Wakers are the same for every task: they only touch the header.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// A waker that borrows the caller's reference: polling does not touch the reference count
/// unless the future clones the waker.
fn borrowed_waker(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE);
    // SAFETY: the vtable below upholds the RawWaker contract for a task header pointer; the
    // ManuallyDrop makes this waker not own a reference, and it is only used while the caller's
    // reference keeps the task alive.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

fn waker_ptr(ptr: *const ()) -> NonNull<Header> {
    // Every RawWaker with WAKER_VTABLE carries a task's header pointer, never null.
    NonNull::new(ptr.cast_mut().cast::<Header>()).expect("coring: null task waker")
}

unsafe fn waker_clone(ptr: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds (or borrows) a reference, so the task is live.
    unsafe { header(waker_ptr(ptr)) }.state.ref_inc();
    RawWaker::new(ptr, &WAKER_VTABLE)
}

unsafe fn waker_wake(ptr: *const ()) {
    let ptr = waker_ptr(ptr);
    // SAFETY: an owned waker carries one reference, which keeps the task alive until the
    // transition below takes it over.
    let header = unsafe { header(ptr) };
    let dealloc = header.vtable.dealloc;
    match header.state.schedule_by_value() {
        // The waker's reference is now the queue entry's.
        WakeByValue::Queue => TaskRef(ptr).queue(),
        WakeByValue::Released(false) => {}
        // SAFETY: that was the last reference: nobody else can reach the task.
        WakeByValue::Released(true) => unsafe { dealloc(ptr) },
    }
}

unsafe fn waker_wake_by_ref(ptr: *const ()) {
    let ptr = waker_ptr(ptr);
    // SAFETY: the waker keeps the task alive during the call.
    if unsafe { header(ptr) }.state.schedule_by_ref() {
        // The reference taken by `schedule_by_ref` is the queue entry's.
        TaskRef(ptr).queue();
    }
}

unsafe fn waker_drop(ptr: *const ()) {
    // SAFETY: an owned waker carries one reference, released here.
    unsafe { release(waker_ptr(ptr)) }
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

    /// Replaces the stage, returning the old one for the caller to drop outside any borrow.
    /// Owner thread only, and never while the future is being polled.
    fn take_stage(&self) -> Stage<F> {
        // SAFETY: owner thread, no poll in progress (every caller's contract); no other reference
        // into the stage is live.
        unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Consumed) }
    }

    unsafe fn run(task: TaskRef) -> Ran {
        // SAFETY: `task` keeps it alive for this call; its vtable is this F's.
        let this = unsafe { Self::cell(task.0) };
        match this.header.state.start_run() {
            // A stale entry (the task completed while queued): drops the entry's reference.
            Run::Skip => return Ran::Pending,
            Run::Abort => {
                let stage = this.take_stage();
                // A panicking Drop must not take the worker down; the abort still completes.
                let _ = catch_unwind(AssertUnwindSafe(|| drop(stage)));
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
        // The future is done: drop it now, on this thread, before publishing the output.
        let finished = this.take_stage();
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(finished)));
        let output = match (output, dropped) {
            (Ok(value), Err(panic)) => {
                drop(value);
                Err(JoinError::panic(panic))
            }
            (output, _) => output,
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
            let _ = catch_unwind(AssertUnwindSafe(|| drop(output)));
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
            waker.wake();
        }
        Ran::Finished(registered)
    }

    unsafe fn shut_down(ptr: NonNull<Header>) {
        // SAFETY: the executor's reference keeps it alive for this call.
        let this = unsafe { Self::cell(ptr) };
        if this.header.state.shut_down() {
            let stage = this.take_stage();
            // A panicking drop at shutdown is reported by the panic hook; the rest still go.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(stage)));
        }
        // SAFETY: owner thread; no other reference to the join waker is live.
        let waker = unsafe { (*this.header.join_waker.get()).take() };
        drop(waker);
    }

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
        let output = match this.take_stage() {
            Stage::Finished(output) => output,
            // Shut down with its runtime before finishing.
            Stage::Consumed => Err(JoinError::cancelled()),
            Stage::Running(_) => unreachable!("coring executor: a complete task still runs"),
        };
        // SAFETY: the handle passes a `*mut Poll<Result<T, JoinError>>` where T is this F's output
        // (a JoinHandle<T> is only ever made by `new_task::<F>` with `F::Output = T`).
        unsafe { *out.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
    }

    unsafe fn drop_stage(ptr: NonNull<Header>) {
        // SAFETY: the handle's reference keeps it alive; owner thread, task complete.
        let stage = unsafe { Self::cell(ptr) }.take_stage();
        let _ = catch_unwind(AssertUnwindSafe(|| drop(stage)));
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last reference is gone, so nothing else points at the allocation, which
        // `new_task::<F>` made with `Box<TaskCell<F>>`. Its stage is empty (module docs), so this
        // thread drops no future or output.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

/// A handle to a spawned task: await it for the task's output.
///
/// Dropping the handle detaches the task, which keeps running. The handle is `!Send`: the task
/// and its output belong to the thread that spawned it.
///
/// ```
/// coring::block_on(async {
///     let handle = coring::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
pub struct JoinHandle<T> {
    /// The handle's reference; `None` once the output was taken.
    task: Option<NonNull<Header>>,
    /// `T` is what the handle yields; the raw pointer makes it `!Send` and `!Sync`.
    _marker: PhantomData<(T, *const ())>,
}

// The handle never pins the output: it only holds a pointer to the task.
impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    fn header(&self) -> Option<&Header> {
        // SAFETY: while `task` is set the handle owns a reference, which outlives the borrow.
        self.task.map(|ptr| unsafe { header(ptr) })
    }

    /// Asks the task to stop: its future is dropped the next time the executor gets to it, and
    /// awaiting the handle gives a [`JoinError`] whose [`is_cancelled`](JoinError::is_cancelled)
    /// is true. Does nothing if the task already finished.
    pub fn abort(&self) {
        if let (Some(ptr), Some(header)) = (self.task, self.header()) {
            header.state.abort();
            // Queue it (unless queued or done) so the executor sees the abort and drops the
            // future.
            if header.state.schedule_by_ref() {
                TaskRef(ptr).queue();
            }
        }
    }

    /// Whether the task has finished (completed, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.header().is_none_or(|h| h.state.is_complete())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ptr = self
            .task
            .expect("coring: JoinHandle polled after it returned");
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: the handle's reference keeps the task alive; owner thread (the handle is
        // !Send); `out` has the type the vtable's `poll_join` writes (this T is the F's output).
        unsafe { (header(ptr).vtable.poll_join)(ptr, (&raw mut out).cast(), cx.waker()) };
        if out.is_ready() {
            self.task = None;
            // SAFETY: the handle's reference, given up now that the output is taken.
            unsafe { release(ptr) };
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let Some(ptr) = self.task.take() else { return };
        // SAFETY: the handle's reference keeps the task alive until it is released below.
        let header = unsafe { header(ptr) };
        let vtable = header.vtable;
        if header.state.is_complete() {
            // The output nobody will read: drop it here, on the owner thread, while the handle's
            // reference still keeps the task alive. (Completion only happens on this thread, so
            // it cannot happen between the check and the release.)
            // SAFETY: owner thread, task complete, the handle's reference keeps it alive.
            unsafe { (vtable.drop_stage)(ptr) };
        }
        if header.state.detach_and_release() {
            // SAFETY: that was the last reference: nobody else can reach the task.
            unsafe { (vtable.dealloc)(ptr) };
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's allocation is its whole cost in memory (1M spawned tasks are 1M of these), and
    /// glibc rounds it up in 16-byte steps: keep a small task within 72 bytes, so with malloc's
    /// 8-byte header it fits an 80-byte chunk.
    #[test]
    fn a_small_task_fits_in_an_eighty_byte_chunk() {
        let task = std::mem::size_of::<TaskCell<std::future::Ready<u64>>>();
        assert!(
            task <= 72,
            "TaskCell<Ready<u64>> is {task} bytes: with malloc's 8-byte header it no longer \
             fits an 80-byte chunk"
        );
    }

    #[test]
    fn queue_entries_and_handles_are_one_pointer() {
        assert_eq!(std::mem::size_of::<TaskRef>(), 8);
        assert_eq!(std::mem::size_of::<JoinHandle<u64>>(), 8);
    }
}
