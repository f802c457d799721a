//! The `Send` handles to the workers of a [`MultiRuntime`](super::MultiRuntime): which worker
//! this thread is, spawning work on another worker, and the handle of that work's output.

use crate::executor::{Injected, JoinError, Remote};
use crate::sync::oneshot;
use crate::task::coop;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

thread_local! {
    /// This thread's worker index and its siblings' handles, inside a multi-worker runtime.
    pub(super) static WORKER: RefCell<Option<(usize, Arc<[WorkerHandle]>)>> = const { RefCell::new(None) };
}

/// The index of the worker this thread is, inside a multi-worker runtime.
pub fn current_worker() -> Option<usize> {
    WORKER
        .try_with(|w| w.borrow().as_ref().map(|(i, _)| *i))
        .ok()
        .flatten()
}

/// Handles to every worker of the multi-worker runtime this thread belongs to (empty outside
/// one), in worker order.
pub fn workers() -> Arc<[WorkerHandle]> {
    WORKER
        .try_with(|w| w.borrow().as_ref().map(|(_, all)| all.clone()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Arc::new([]))
}

/// A `Send` handle to one worker: spawn work there from any thread.
///
/// Get one from [`MultiRuntime::handles`](super::MultiRuntime::handles) outside the runtime, or from [`workers()`] inside it.
/// [`spawn`](Self::spawn) takes a `Send` future; [`spawn_with`](Self::spawn_with) builds the
/// future on the worker, so it may hold that core's sockets and `Rc`s (and is how a connection
/// moves to another worker, see [`TcpStream::into_std`](crate::net::TcpStream::into_std)).
///
/// ```
/// use std::rc::Rc;
///
/// let runtime = coring::Builder::new().workers(2).build_multi()?;
/// let second = runtime.handles()[1].clone();
/// // From a plain thread: the handle is `Send`, and so is the one it returns.
/// let on = std::thread::spawn(move || {
///     let job = second.spawn_with(|| {
///         let local = Rc::new(21); // `!Send`, made and used on worker 1 only
///         async move { (coring::runtime::current_worker(), *local * 2) }
///     });
///     coring::block_on(job)
/// })
/// .join()
/// .unwrap();
/// assert_eq!(on.expect("worker 1 ran it"), (Some(1), 42));
/// # std::io::Result::Ok(())
/// ```
///
/// In a `fork()` child the worker is not there (it is a thread of the parent): work spawned
/// through an inherited handle is refused, and its handle gives a cancelled [`JoinError`] at
/// once.
#[derive(Clone)]
pub struct WorkerHandle {
    pub(super) index: usize,
    pub(super) shared: Arc<Remote>,
    pub(super) ring_mode: super::RingMode,
    /// `fork::generation()` when the worker started: another count means a fork child.
    pub(super) forks: u64,
    /// The backend the worker's runtime runs on.
    pub(super) backend: crate::Backend,
}

impl fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("index", &self.index)
            .finish()
    }
}

impl WorkerHandle {
    /// The worker's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The backend the worker runs on (see [`Runtime::backend`](crate::Runtime::backend)).
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }

    /// Runs a `Send` future on this worker; await the handle (from any thread or core) for its
    /// output.
    pub fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(move || future)
    }

    /// Builds a future *on* this worker with `make` and runs it there. The future need not be
    /// `Send` (it may hold `Rc`s and sockets of that core); only `make` crosses threads.
    pub fn spawn_with<C, F>(&self, make: C) -> RemoteJoinHandle<F::Output>
    where
        C: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let work: Injected = Box::new(move || {
            let task = crate::executor::spawn(async move { make().await });
            crate::executor::spawn(async move {
                // The caller may have dropped its handle; then nobody wants the output.
                let _ = tx.send(task.await);
            });
        });
        // A stopped worker refuses the work; dropping it drops `tx`, which the handle reports.
        // So does a fork child, whose queue copy no worker drains (and whose wake-up would
        // reach the parent's ring).
        if !crate::driver::fork::forked_since(self.forks) {
            let _ = self.shared.inject(work);
        }
        RemoteJoinHandle { rx }
    }
}

/// The output of work spawned on another worker. `Send`; await it anywhere.
#[derive(Debug)]
pub struct RemoteJoinHandle<T> {
    rx: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            // The worker stopped before running it to the end (or refused the work: a retry loop
            // would never yield without the budget; the receiver keeps answering `Err`).
            Poll::Ready(Err(_)) => {
                if coop::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
                Poll::Ready(Err(JoinError::cancelled()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
