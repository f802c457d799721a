//! The runtime: one ring, one executor and one timer store on one thread, and the loop that
//! drives them.
//!
//! Each turn of the loop:
//!
//! 1. polls the `block_on` future if it was woken;
//! 2. runs up to [`TASK_BUDGET`] ready tasks, so tasks that keep waking each other cannot starve
//!    I/O and timers; within one task poll, a cooperative budget makes a task whose awaits are
//!    always ready yield, and such a task runs again only after steps 3–5;
//! 3. fires due timers;
//! 4. submits the turn's batch of entries and, if nothing is ready, waits in the kernel until a
//!    completion, the next timer deadline, or a wake from another thread;
//! 5. dispatches completions (waking their tasks) and takes in tasks woken from other threads.
//!
//! This module is the only glue between executor, driver and timers; it holds no `unsafe`.

mod builder;
mod context;
mod main_output;
mod metrics;
pub(crate) mod wait;
mod worker_handle;
mod workers;

pub use crate::driver::RingMode;
pub use builder::{Builder, MAX_BATCH_DELAY};
pub use main_output::MainOutput;
pub use metrics::Metrics;
#[allow(deprecated)]
pub use metrics::RingStats;
pub use worker_handle::{current_worker, workers, RemoteJoinHandle, WorkerHandle};
pub use workers::MultiRuntime;

use crate::buf::pool::ReadPool;
pub use crate::buf::ReadPath;
use crate::driver::{Driver, Park, RingConfig};
use crate::executor::{Executor, JoinHandle, Remote};
use crate::task::coop;
use crate::time::timers::Timers;
use context::{Core, EnterGuard};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

/// Task polls per loop turn before the ring is serviced.
pub const TASK_BUDGET: usize = 256;

/// A single-threaded runtime on io_uring (or epoll where io_uring is refused; see
/// [`backend`](Runtime::backend)). It is `!Send`: it and its tasks stay on the thread that
/// built it.
///
/// # Processes and threads
///
/// * **`fork()`**: a forked child never touches the parent's ring (its queues are not even
///   mapped in the child). In the child, I/O on an inherited runtime fails with an error that
///   says so, and dropping the runtime (or sockets, inside it) frees the child's copies without
///   cancelling or closing anything of the parent's. Build a new runtime in the child.
///   Spawning with `std::process::Command` is unaffected: its child runs no coring code.
/// * **`thread_local!`**: a runtime or socket may live in one. At thread exit (or at process
///   exit, for the thread calling `exit`) it is dropped like any other: a runtime made in the
///   thread-local's initializer shuts down as usual; one put there later, whose destructor may
///   run after coring's own thread-locals are gone, shuts down with no runtime current
///   (cancelling and reaping its ops, closing its sockets). Its tasks must then not touch a
///   destroyed thread-local in their `Drop`.
///
/// # Dropping
///
/// Dropping a runtime drops its tasks, cancels their operations still in flight and waits for
/// the kernel to end them, at most 10 seconds (past that, their memory is leaked, never freed).
/// Files and sockets dropped without awaiting their close are closed through the ring, and
/// waited for at most a second: closes still queued then (behind others blocked in a filesystem
/// that stopped answering, a FUSE or NFS server) are cancelled and finished by a background
/// thread, so none is left open (Linux 5.19+; before, they wait to the 10 seconds).
///
/// ```
/// let runtime = coring::Runtime::new()?;
/// let answer = runtime.block_on(async { coring::spawn(async { 42 }).await.unwrap() });
/// assert_eq!(answer, 42);
/// # std::io::Result::Ok(())
/// ```
pub struct Runtime {
    core: Core,
}

impl Runtime {
    /// A runtime with default settings. Equivalent to `Builder::new().build()`.
    ///
    /// # Errors
    ///
    /// If neither io_uring nor, where io_uring is refused, epoll can be set up; or if io_uring
    /// was forced (`Builder::backend`, `CORING_BACKEND`) and cannot be set up: the error says
    /// why (too old a kernel, a seccomp filter, the `kernel.io_uring_disabled` sysctl,
    /// locked-memory limits) and what to do.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    pub(crate) fn with_config(
        config: RingConfig,
        msg_ring: bool,
        read_buffers: (u16, usize),
    ) -> io::Result<Runtime> {
        let notifier: Option<crate::executor::RingNotifier> = if msg_ring {
            Some(notify_through_ring)
        } else {
            None
        };
        // Made inside a thread-local's initializer, the runtime then outlives none of the slots
        // its drop enters (see `context`).
        context::register();
        let executor = Rc::new(Executor::new(notifier)?);
        let counters = executor.shared().counters.clone();
        let mut driver = Driver::new(config, counters.clone())?;
        driver.arm_wake_fd(executor.shared().eventfd())?;
        if let Some(ring_fd) = driver.ring_fd() {
            executor.shared().set_ring_fd(ring_fd);
        }
        let driver = Rc::new(RefCell::new(driver));
        let (buffers, buffer_size) = read_buffers;
        Ok(Runtime {
            core: Core {
                executor,
                read_pool: Rc::new(ReadPool::new(driver.clone(), buffers, buffer_size)),
                driver,
                timers: Rc::new(RefCell::new(Timers::new(counters))),
            },
        })
    }

    /// Runs `future` to completion on this thread, along with every task spawned on this runtime.
    ///
    /// # Panics
    ///
    /// If called from inside a running runtime (spawn or await the future instead), or if the
    /// ring fails in a way the runtime cannot recover from.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _guard = EnterGuard::enter(&self.core);
        let mut future = pin!(future);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            shared: self.core.executor.shared().clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut turn = Turn::default();
        loop {
            if main.woken.swap(false, Ordering::AcqRel) {
                let polled = coop::budgeted(|| future.as_mut().poll(&mut cx));
                if let Poll::Ready(output) = polled {
                    // Wake-ups posted to other rings must not wait for a next turn that may
                    // never come.
                    if let Err(err) = self.core.driver.borrow_mut().flush() {
                        eprintln!("{err}");
                    }
                    return output;
                }
            }
            if let Err(err) = self.turn(&main.woken, &mut turn) {
                panic!("{err}");
            }
        }
    }

    /// One loop turn after the main future's poll.
    fn turn(&self, main_woken: &AtomicBool, turn: &mut Turn) -> io::Result<()> {
        let core = &self.core;
        let more = core.executor.run_ready(TASK_BUDGET);

        let (now, next_deadline) = {
            let mut timers = core.timers.borrow_mut();
            if timers.len() == 0 {
                // No timers: skip the clock read.
                (None, None)
            } else {
                let now = Instant::now();
                timers.fire_due(now, &mut turn.wakers);
                (Some(now), timers.next_deadline())
            }
        };
        turn.wake_all();

        let shared: &Remote = core.executor.shared();
        let busy = more
            || core.executor.has_ready()
            || main_woken.load(Ordering::Acquire)
            || coop::has_deferred();
        let park = if busy || !shared.prepare_park() {
            Park::NoWait
        } else {
            match next_deadline {
                Some(deadline) => {
                    let now = now.unwrap_or_else(Instant::now);
                    Park::Timeout(deadline.saturating_duration_since(now))
                }
                None => Park::Forever,
            }
        };
        let (parked, dispose_panic) = {
            let mut driver = core.driver.borrow_mut();
            // Published before the wait too: another thread reading a parked worker's metrics
            // must see the ops it waits on (this turn's tasks may have pushed some).
            driver.publish_slots_in_use();
            let parked = driver.park(park);
            driver.dispatch();
            driver.take_woken(&mut turn.wakers);
            driver.take_graveyard(&mut turn.graveyard);
            driver.take_failed_wakes(&mut turn.failed_wakes);
            driver.publish_slots_in_use();
            (parked, driver.take_dispose_panic())
        };
        turn.rewake_failed();
        // Tasks that ran out of budget run again only now, after timers and the ring.
        coop::take_deferred(&mut turn.wakers);
        if park != Park::NoWait {
            shared.after_park();
        }
        turn.wake_all();
        turn.bury();
        core.executor.drain_remote();
        // A panic of user code the driver caught while disposing of a dropped op's result
        // (`driver/dispose.rs`): out of `block_on` now, with every completion applied; then one
        // this runtime's driver kept for it from an op dropped outside the turn. Not on a worker
        // of a multi-worker runtime: out of its loop it would end the worker and every task on
        // it, so it is dropped there (the panic hook printed it), as at shutdown.
        if let Some(payload) = crate::driver::dispose::take_caught().or(dispose_panic) {
            if current_worker().is_none() {
                std::panic::resume_unwind(payload);
            }
        }
        parked
    }

    /// Spawns a task on this runtime; it runs while the runtime runs a `block_on`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.executor.spawn(future)
    }

    /// Which backend this runtime runs on: io_uring, or epoll where io_uring is refused or
    /// when asked for (see [`Builder::backend`]).
    pub fn backend(&self) -> crate::Backend {
        self.core.driver.borrow().backend()
    }

    /// Why this runtime runs on epoll although nobody asked for it: the error io_uring's
    /// set-up gave (a seccomp filter, `kernel.io_uring_disabled`, no io_uring in this kernel,
    /// ...). `None` on io_uring, and on epoll chosen by `Builder::backend` or `CORING_BACKEND`.
    pub fn fallback_reason(&self) -> Option<String> {
        self.core
            .driver
            .borrow()
            .fallback_reason()
            .map(str::to_owned)
    }

    /// Which ring set-up this kernel granted ([`RingMode::NoRing`] on the epoll backend).
    pub fn ring_mode(&self) -> RingMode {
        self.core.driver.borrow().mode()
    }

    /// How buffered socket readers ([`BufReader`](crate::io::BufReader) over a `TcpStream` or
    /// `UnixStream`) read on this runtime: through its provided buffer rings, or plainly (and
    /// why). Registers the first ring if no reader has yet, to find out.
    ///
    /// ```
    /// let runtime = coring::Runtime::new()?;
    /// println!("{:?}", runtime.read_path());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read_path(&self) -> ReadPath {
        self.core.read_pool.path()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Order matters. Dropping task futures abandons their in-flight ops to the driver (which
        // cancels them), so tasks go first; then the driver reaps until the kernel is done with
        // every op; only then may op memory and the ring go.
        let _guard = EnterGuard::enter_for_shutdown(&self.core);
        // The ring closes with this runtime and its fd number may be reused: wakers on other
        // threads must not post `MSG_RING` to it any more (they fall back to the eventfd).
        self.core.executor.shared().clear_ring_fd();
        self.core.executor.shut_down();
        let started = Instant::now();
        let mut last_cancel = None;
        let mut graveyard = Vec::new();
        let mut wakers = Vec::new();
        let mut failed_wakes = Vec::new();
        loop {
            let done = {
                let mut driver = self.core.driver.borrow_mut();
                let done = driver.shutdown_step(started, &mut last_cancel);
                driver.take_graveyard(&mut graveyard);
                driver.take_woken(&mut wakers);
                driver.take_failed_wakes(&mut failed_wakes);
                done
            };
            // Workers this one woke at the end may be waiting on a refused wake-up.
            for id in failed_wakes.drain(..) {
                crate::executor::wake_through_eventfd(id);
            }
            // Nothing waits for these any more; dropped (user code) after the borrow, and a
            // panicking one does not cut shutdown short.
            for waker in wakers.drain(..) {
                let _ = catch_unwind(AssertUnwindSafe(|| drop(waker)));
            }
            bury(&mut graveyard);
            if done {
                break;
            }
        }
        // Every op is reaped: the kernel fills no pool buffer any more.
        self.core.read_pool.release();
        // Read from other threads after the worker is gone (`WorkerHandle::metrics`): no slot
        // is in use any more, not as many as at the last loop turn.
        self.core.driver.borrow().publish_slots_in_use();
        // The timers' wakers too: dropped after the store's borrow, past any panic.
        let timer_wakers = self.core.timers.borrow_mut().clear();
        for waker in timer_wakers {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(waker)));
        }
        // Wakers of tasks that ran out of budget: those tasks are gone now.
        let mut deferred = Vec::new();
        coop::take_deferred(&mut deferred);
        drop(deferred);
        // A dispose that panicked during shutdown: dropped like the wakers' panics above.
        crate::driver::dispose::forget_caught();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("ring_mode", &self.ring_mode())
            .field("live_tasks", &self.core.executor.live_tasks())
            .finish()
    }
}

/// Posts a wake-up to another ring from this thread's ring, if this thread runs a runtime.
fn notify_through_ring(target_ring_fd: std::os::fd::RawFd, target_id: usize) -> bool {
    crate::driver::try_with_current(|driver| {
        driver.ring_fd().is_some_and(|fd| fd != target_ring_fd)
            && driver.push_msg_ring(target_ring_fd, target_id).is_ok()
    })
    .unwrap_or(false)
}

/// Scratch space reused every turn, so the loop does not allocate.
#[derive(Default)]
struct Turn {
    wakers: Vec<Waker>,
    graveyard: Vec<Box<dyn crate::driver::Abandoned>>,
    /// Runtimes whose `MSG_RING` wake-up from this ring the kernel refused.
    failed_wakes: Vec<usize>,
}

impl Turn {
    /// Wakes every collected waker. A waker may be user code: if its `wake` panics, the loop
    /// goes on and the other wakers are still woken (the panic hook has printed the message).
    fn wake_all(&mut self) {
        for waker in self.wakers.drain(..) {
            let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
        }
    }

    /// Wakes, through their eventfd, the runtimes whose `MSG_RING` wake-up was refused: their
    /// owner is blocked in the kernel waiting for it.
    fn rewake_failed(&mut self) {
        for id in self.failed_wakes.drain(..) {
            crate::executor::wake_through_eventfd(id);
        }
    }

    /// Frees the data of abandoned ops whose final completion arrived.
    fn bury(&mut self) {
        bury(&mut self.graveyard);
    }
}

/// Drops abandoned op data, which holds user buffers: a buffer whose `Drop` panics must not end
/// the loop (or, at shutdown, leave the rest of the data undropped).
fn bury(graveyard: &mut Vec<Box<dyn crate::driver::Abandoned>>) {
    for data in graveyard.drain(..) {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(data)));
    }
}

/// The `block_on` future's waker: a flag, plus a wake-up of the ring when set from elsewhere.
struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Remote>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if !crate::executor::is_current(&self.shared) {
            self.shared.unpark();
        }
    }
}

/// Runs `future` on a new single-threaded runtime on this thread.
///
/// ```
/// let value = coring::block_on(async { 1 + 1 });
/// assert_eq!(value, 2);
/// ```
///
/// # Panics
///
/// If [`Runtime::new`] fails (io_uring refused falls back to epoll unless `CORING_BACKEND`
/// forces io_uring), with the message it would return (use `Runtime::new()` to handle it), or
/// if called inside a running runtime.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let runtime = Runtime::new().unwrap_or_else(|err| panic!("{err}"));
    runtime.block_on(future)
}

/// Sends one no-op through the ring and waits for its completion: the runtime's own overhead
/// per operation, with no I/O. Useful for benchmarks and for checking the ring works. On the
/// epoll backend it completes at once, with no syscall.
///
/// ```
/// coring::block_on(async { coring::runtime::nop().await.unwrap() });
/// ```
pub async fn nop() -> io::Result<()> {
    crate::op::nop::nop().await
}

/// A runtime on io_uring whatever `CORING_BACKEND` says, for the unit tests about the ring.
#[cfg(test)]
pub(crate) fn io_uring_runtime() -> Runtime {
    let builder = Builder::new().backend(crate::Backend::IoUring);
    builder.build().expect("an io_uring runtime")
}

#[cfg(test)]
mod tests {
    /// Wakers may outlive the runtime on other threads; they must not post to a closed ring's
    /// fd number, which the process may have reused for something else.
    #[test]
    fn a_dropped_runtime_leaves_no_ring_fd_to_post_to() {
        let runtime = super::io_uring_runtime();
        let shared = runtime.core.executor.shared().clone();
        assert!(shared.ring_fd() >= 0);
        drop(runtime);
        assert_eq!(shared.ring_fd(), -1);
    }
}
