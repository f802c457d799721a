//! Thread-per-core: one runtime per worker thread, each with its own ring, run queue and
//! timers, and no work stealing. Work moves between cores only when asked to, through a
//! [`WorkerHandle`]; wake-ups between cores go from ring to ring with `MSG_RING`.
//!
//! ```
//! let runtime = coring::Builder::new().workers(2).build_multi()?;
//! let sum = runtime.block_on(async {
//!     // Runs on worker 0, which can send work to the others.
//!     let other = coring::runtime::workers()[1].clone();
//!     let from_1 = other.spawn(async { coring::runtime::current_worker() }).await.unwrap();
//!     from_1.unwrap() + coring::runtime::current_worker().unwrap()
//! });
//! assert_eq!(sum, 1);
//! # std::io::Result::Ok(())
//! ```

use super::wait::{unwrap_join, wait, wait_all};
use super::worker_handle::{WorkerHandle, WORKER};
use super::Builder;
use crate::executor::Remote;
use crate::sync::oneshot;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::thread;

/// A thread-per-core runtime: `n` worker threads named `coring-worker-N`, each running its own
/// single-threaded [`Runtime`](super::Runtime). Built by [`Builder::build_multi`].
///
/// ```
/// let runtime = coring::Builder::new().workers(2).build_multi()?;
/// // One future on worker 0, this thread blocked until it is done.
/// assert_eq!(runtime.block_on(async { coring::runtime::current_worker() }), Some(0));
/// // The same async main on every worker (given its index), outputs in worker order.
/// let all = runtime.run_on_all(|index| async move {
///     (index, coring::runtime::current_worker())
/// });
/// assert_eq!(all, [(0, Some(0)), (1, Some(1))]);
/// // Work for one worker, from this thread, through its handle.
/// let job = runtime.handles()[1].spawn(async { 6 * 7 });
/// assert_eq!(coring::block_on(job).expect("worker 1 ran it"), 42);
/// drop(runtime); // stops and joins every worker
/// # std::io::Result::Ok(())
/// ```
///
/// Dropping it stops every worker: each drops its tasks, drains its ring, and its thread is
/// joined. A worker that panicked is reported on stderr and does not hang the others. A buffer
/// that panics while a worker's driver disposes of a dropped op's result (a receive asking
/// where its bytes went) does not stop the worker: the panic is reported by the panic hook only.
///
/// After `fork()`, a child's copy is inert: dropping it neither stops nor joins the parent's
/// workers, its `block_on` family panics, and work spawned through its [`WorkerHandle`]s is
/// refused (the workers are not in the child).
///
/// The last reference may also go on one of its own workers (say, an `Arc<MultiRuntime>` held
/// by a task): that worker cannot join itself, so the drop stops and joins the others, and the
/// current worker finishes its own shutdown (drops its tasks, drains its ring) when the task
/// returns to its loop, after which its thread ends on its own.
pub struct MultiRuntime {
    handles: Arc<[WorkerHandle]>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
    /// `fork::generation()` when started: a fork child has none of these threads.
    forks: u64,
}

impl fmt::Debug for MultiRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiRuntime")
            .field("workers", &self.handles.len())
            .finish()
    }
}

impl MultiRuntime {
    pub(crate) fn start(builder: &Builder, count: usize) -> io::Result<MultiRuntime> {
        let count = count.max(1);
        let forks = crate::driver::fork::generation();
        let cpus = if builder.pins_cores() {
            pinning_cpus()
        } else {
            Vec::new()
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut go = Vec::new();
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count {
            let builder = builder.clone();
            let cpu = (!cpus.is_empty()).then(|| cpus[index % cpus.len()]);
            let ready_tx = ready_tx.clone();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<Option<Arc<[WorkerHandle]>>>();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            go.push(go_tx);
            stops.push(stop_tx);
            let thread = thread::Builder::new()
                .name(format!("coring-worker-{index}"))
                .spawn(move || worker_main(index, cpu, builder, ready_tx, go_rx, stop_rx))
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("coring: spawning worker {index}: {e}"))
                })?;
            threads.push(thread);
        }
        drop(ready_tx);
        let mut handles: Vec<Option<WorkerHandle>> = vec![None; count];
        let mut first_error = None;
        for _ in 0..count {
            match ready_rx.recv() {
                Ok((index, Ok((shared, ring_mode, backend)))) => {
                    handles[index] = Some(WorkerHandle {
                        index,
                        shared,
                        ring_mode,
                        forks,
                        backend,
                    })
                }
                Ok((_, Err(err))) => {
                    first_error.get_or_insert(err);
                }
                Err(_) => {
                    first_error
                        .get_or_insert(io::Error::other("coring: a worker died while starting"));
                }
            }
        }
        let handles: Option<Vec<WorkerHandle>> = handles.into_iter().collect();
        let handles: Arc<[WorkerHandle]> = match (handles, first_error) {
            (Some(handles), None) => handles.into(),
            (_, error) => {
                for tx in go {
                    // A worker that already failed has gone; nothing to tell it.
                    let _ = tx.send(None);
                }
                for thread in threads {
                    let _ = thread.join();
                }
                return Err(
                    error.unwrap_or_else(|| io::Error::other("coring: a worker failed to start"))
                );
            }
        };
        for tx in go {
            // Every worker is alive and waiting for this, so the send cannot fail.
            let _ = tx.send(Some(handles.clone()));
        }
        Ok(MultiRuntime {
            handles,
            stops,
            threads,
            forks,
        })
    }

    /// Handles to every worker, in order.
    pub fn handles(&self) -> &[WorkerHandle] {
        &self.handles
    }

    /// Runs `future` on worker 0 and blocks this thread until it finishes.
    ///
    /// # Panics
    ///
    /// Resumes the future's panic here; panics if worker 0 stopped first, or if called on one of
    /// this runtime's own workers (blocking that worker could wait for itself forever: spawn
    /// with a [`WorkerHandle`] and await the handle instead).
    #[track_caller]
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.refuse_own_worker("block_on");
        unwrap_join(wait(self.handles[0].spawn(future)))
    }

    /// Builds a future on worker 0 with `make` and blocks this thread until it finishes. Unlike
    /// [`block_on`](Self::block_on), the future need not be `Send`: it may hold sockets and `Rc`s
    /// of worker 0.
    ///
    /// # Panics
    ///
    /// As [`block_on`](Self::block_on).
    #[track_caller]
    pub fn block_on_with<C, F>(&self, make: C) -> F::Output
    where
        C: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.refuse_own_worker("block_on_with");
        unwrap_join(wait(self.handles[0].spawn_with(make)))
    }

    /// Runs the future built by `main` on *every* worker (the same async main everywhere, as
    /// monoio's and glommio's pools do) and returns the outputs in worker order.
    ///
    /// # Panics
    ///
    /// Resumes the first panic of a worker's main here as soon as it happens, whatever the other
    /// mains are doing (they go on running until the runtime is dropped). Panics if a worker
    /// stopped first, or if called on one of this runtime's own workers.
    #[track_caller]
    pub fn run_on_all<C, F>(&self, main: C) -> Vec<F::Output>
    where
        C: Fn(usize) -> F + Send + Sync + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.refuse_own_worker("run_on_all");
        let main = Arc::new(main);
        let running: Vec<_> = self
            .handles
            .iter()
            .map(|worker| {
                let main = main.clone();
                let index = worker.index;
                worker.spawn_with(move || main(index))
            })
            .collect();
        // All at once, not in worker order: a panic on worker 1 must not wait for worker 0's
        // main, which may serve forever.
        wait_all(running)
    }

    /// Panics if this thread is one of this runtime's workers (blocking it on work that this
    /// runtime must run could wait for itself forever), or in a fork child (no workers there).
    #[track_caller]
    fn refuse_own_worker(&self, call: &str) {
        if crate::driver::fork::forked_since(self.forks) {
            panic!(
                "coring: MultiRuntime::{call} called in a fork child; its workers live in the \
                 parent process. Build a new runtime in the child"
            );
        }
        let own = WORKER
            .try_with(|w| {
                w.borrow()
                    .as_ref()
                    .is_some_and(|(_, all)| Arc::ptr_eq(all, &self.handles))
            })
            .unwrap_or(false);
        if own {
            panic!(
                "coring: MultiRuntime::{call} called on one of its own workers; it would block \
                 the worker that has to run the future. Spawn the future with a WorkerHandle \
                 (coring::runtime::workers()) and .await the handle instead"
            );
        }
    }

    /// Each worker's metrics, in worker order, read from this thread without disturbing the
    /// workers (see [`Metrics`](super::Metrics)).
    pub fn metrics(&self) -> Vec<super::Metrics> {
        self.handles.iter().map(WorkerHandle::metrics).collect()
    }

    /// The backend each worker runs on, in order (see [`Runtime::backend`](crate::Runtime::backend)).
    pub fn backends(&self) -> Vec<crate::Backend> {
        self.handles.iter().map(WorkerHandle::backend).collect()
    }

    /// Cross-core wake-ups each worker received so far, as `(through MSG_RING, through eventfd)`.
    #[deprecated(
        since = "0.1.0",
        note = "use `MultiRuntime::metrics()`: `notified_by_msg_ring`, `notified_by_eventfd`"
    )]
    pub fn wake_counts(&self) -> Vec<(u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        self.handles
            .iter()
            .map(|h| {
                (
                    h.shared.notified.msg_ring.load(Relaxed),
                    h.shared.notified.eventfd.load(Relaxed),
                )
            })
            .collect()
    }
}

impl Drop for MultiRuntime {
    fn drop(&mut self) {
        if crate::driver::fork::forked_since(self.forks) {
            // A fork child's copy: the worker threads exist only in the parent, so there is
            // nothing to stop or join here (a join would wait forever), and a stop message
            // would wake the parent's workers. Forgotten, not dropped.
            std::mem::forget(std::mem::take(&mut self.stops));
            std::mem::forget(std::mem::take(&mut self.threads));
            return;
        }
        // Dropping each stop sender ends that worker's main future.
        self.stops.clear();
        let current = thread::current().id();
        for (index, thread) in self.threads.drain(..).enumerate() {
            if thread.thread().id() == current {
                // Dropped on this worker: it cannot join itself. Its stop sender is gone, so its
                // loop ends and shuts the worker down once the running task returns to it;
                // dropping the handle detaches the thread.
                continue;
            }
            if thread.join().is_err() {
                eprintln!("coring: worker {index} panicked");
            }
        }
    }
}

/// What a started worker reports: its remote half, its ring set-up and its backend.
type Ready = std::sync::mpsc::Sender<(
    usize,
    io::Result<(Arc<Remote>, super::RingMode, crate::Backend)>,
)>;

/// The CPUs `pin_cores` pins workers to, in order: those the starting thread may run on (so a
/// process started under `taskset` or a cpuset stays inside it), or, if the mask cannot be
/// read, CPUs 0 up to the available parallelism.
fn pinning_cpus() -> Vec<usize> {
    match crate::sys::allowed_cpus() {
        Ok(cpus) if !cpus.is_empty() => cpus,
        result => {
            if let Err(err) = result {
                eprintln!("{err}; pinning to CPUs counted from 0");
            }
            let cores = thread::available_parallelism().map_or(1, |n| n.get());
            (0..cores).collect()
        }
    }
}

fn worker_main(
    index: usize,
    cpu: Option<usize>,
    builder: Builder,
    ready: Ready,
    go: std::sync::mpsc::Receiver<Option<Arc<[WorkerHandle]>>>,
    stop: oneshot::Receiver<()>,
) {
    if let Some(cpu) = cpu {
        if let Err(err) = crate::sys::pin_current_thread(cpu) {
            eprintln!("{err}; worker {index} runs unpinned");
        }
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(err) => {
            // The builder thread is waiting for exactly one message per worker.
            let _ = ready.send((index, Err(err)));
            return;
        }
    };
    if ready
        .send((
            index,
            Ok((
                runtime.core.executor.shared().clone(),
                runtime.ring_mode(),
                runtime.backend(),
            )),
        ))
        .is_err()
    {
        return;
    }
    let Ok(Some(all)) = go.recv() else { return };
    WORKER.with(|w| *w.borrow_mut() = Some((index, all)));
    // Runs until the MultiRuntime drops its stop sender.
    let _ = runtime.block_on(stop);
    drop(runtime);
    WORKER.with(|w| *w.borrow_mut() = None);
}
