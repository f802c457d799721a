//! `JoinHandle`: the spawner's side of a task (the task itself is in `raw_task.rs`).

use super::join::JoinError;
use super::raw_task::{header, release, Header, TaskRef};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

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
    /// The handle of a new task, owning one of its references.
    pub(super) fn new(task: NonNull<Header>) -> Self {
        JoinHandle {
            task: Some(task),
            _marker: PhantomData,
        }
    }

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
