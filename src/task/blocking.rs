//! `spawn_blocking`: run blocking code (a `getaddrinfo`, a synchronous library call, heavy
//! computation) on a small process-wide thread pool, so it never stalls a core's ring.
//!
//! # The pool
//!
//! One pool per process, shared by every runtime and usable without one. Threads are named
//! `coring-blocking` and started lazily: the first call starts the first thread. A job goes to an
//! idle thread if there is one, otherwise a new thread is started, up to [`MAX_THREADS`]; at the
//! cap, jobs wait in a FIFO queue for the next thread to finish. A thread with nothing to do for
//! [`KEEP_ALIVE`] exits, so an idle process holds no pool threads.
//!
//! # Bookkeeping
//!
//! One mutex guards the queue and three counters: `threads` (alive), `idle` (waiting for work
//! and not yet claimed) and `notified` (claimed by a submitter, not yet awake). A submitter that
//! finds an idle thread claims it (`idle -= 1`, `notified += 1`) before signalling the condvar,
//! so two jobs never count on the same idle thread; a waking thread that finds `notified > 0`
//! takes the claim, even if its wait also timed out, so a signal racing with a timeout is never
//! lost. Every queued job therefore has a thread on its way: a claimed idle one, a new one, or
//! (at the cap) a busy one that will look at the queue when its job is done.
//!
//! No user code runs under the lock: jobs run, and results are sent and dropped, unlocked.

use crate::sync::oneshot;
use crate::task::JoinError;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

/// The most threads the blocking pool runs at once; further jobs queue.
pub(crate) const MAX_THREADS: usize = 64;

/// How long a blocking-pool thread waits for work before it exits.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

const THREAD_NAME: &str = "coring-blocking";

static POOL: Pool = Pool::new(MAX_THREADS, KEEP_ALIVE);

/// Runs `f` on the blocking thread pool and returns a handle to await its result.
///
/// Use it for anything that blocks the calling thread: name resolution, synchronous file or
/// library calls, long computations. The pool grows to 64 threads (named `coring-blocking`) and
/// then queues jobs; a thread idle for 10 seconds exits. Awaiting the handle suspends only the awaiting task; the
/// core goes on running its other tasks, timers and I/O. When `f` returns, the awaiting task's
/// waker is woken from the pool thread, which queues the task back on its own core (and wakes
/// that core's ring), so the result is always picked up where the task lives.
///
/// It needs no runtime to be *called*: the pool is process-wide, and the handle is a plain
/// future that any executor can await. Inside a coring runtime it is the way to call blocking
/// code.
///
/// A panic in `f` is caught on the pool thread and the handle yields a [`JoinError`] whose
/// [`is_panic`](JoinError::is_panic) is true. Dropping the handle detaches the job: `f` still
/// runs to the end, and its result is dropped on the pool thread. Work cannot be cancelled
/// once submitted.
///
/// ```
/// coring::block_on(async {
///     let sum = coring::task::spawn_blocking(|| (1..=100u64).sum::<u64>()).await.unwrap();
///     assert_eq!(sum, 5050);
///
///     let err = coring::task::spawn_blocking(|| panic!("boom")).await.unwrap_err();
///     assert!(err.is_panic());
/// });
/// ```
///
/// # Panics
///
/// If the operating system refuses to start a thread while the pool has none.
pub fn spawn_blocking<F, R>(f: F) -> BlockingHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    spawn_on(&POOL, f)
}

fn spawn_on<F, R>(pool: &'static Pool, f: F) -> BlockingHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    pool.submit(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        // Fails only if the handle was dropped (detached): the result is dropped here.
        let _ = tx.send(result);
    }));
    BlockingHandle { rx }
}

/// The result of a closure run by [`spawn_blocking`]: a future of `Result<R, JoinError>`.
///
/// It is `Send` (so a `Send` task may hold it) and dropping it detaches the closure, which still
/// runs. If the closure could not be run at all (its thread could not be started), the handle
/// yields a [`JoinError`] whose [`is_cancelled`](JoinError::is_cancelled) is true.
pub struct BlockingHandle<R> {
    rx: oneshot::Receiver<thread::Result<R>>,
}

impl<R> Future for BlockingHandle<R> {
    type Output = Result<R, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|received| match received {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(payload)) => Err(JoinError::panic(payload)),
                // The job was dropped without running (or the result was already taken).
                Err(_) => Err(JoinError::cancelled()),
            })
    }
}

impl<R> fmt::Debug for BlockingHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingHandle").finish_non_exhaustive()
    }
}

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    /// Signalled once per claimed idle thread.
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

struct PoolState {
    queue: VecDeque<Job>,
    /// Threads alive (counted from before their spawn until they decide to exit).
    threads: usize,
    /// Threads waiting for work that no submitter has claimed.
    idle: usize,
    /// Idle threads claimed by a submitter that have not woken up yet.
    notified: usize,
}

impl Pool {
    const fn new(max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
            }),
            work: Condvar::new(),
            max_threads,
            keep_alive,
        }
    }

    /// No user code runs under the lock and every unlock leaves the state consistent, so a
    /// poisoned mutex still guards valid data.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            self.work.notify_one();
        } else if state.threads < self.max_threads {
            state.threads += 1;
            drop(state);
            self.start_thread();
        }
        // Otherwise every thread is busy at the cap: the first to finish takes the job.
    }

    fn start_thread(&'static self) {
        let started = thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || self.run());
        let Err(err) = started else { return };
        let mut state = self.lock();
        state.threads -= 1;
        if state.threads > 0 {
            return; // The threads there are will get to the queue.
        }
        // Nobody would ever run the queue: drop it (each handle reports `cancelled`) and say why.
        let orphaned: Vec<Job> = state.queue.drain(..).collect();
        drop(state);
        drop(orphaned);
        panic!("coring: spawn_blocking could not start a `{THREAD_NAME}` thread: {err}");
    }

    /// A pool thread: run jobs while there are some, wait for more, exit after `keep_alive`
    /// without any.
    fn run(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // The job catches a panic of the closure itself; this one catches a panic from
                // dropping an unwanted result, so the thread (and the count) stays right.
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                continue;
            }
            state.idle += 1;
            loop {
                let (guard, wait) = self
                    .work
                    .wait_timeout(state, self.keep_alive)
                    .unwrap_or_else(PoisonError::into_inner);
                state = guard;
                if state.notified > 0 {
                    // A submitter claimed this thread (and already took it off `idle`).
                    state.notified -= 1;
                    break;
                }
                if wait.timed_out() {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
                // A spurious wake-up: still idle, wait again.
            }
        }
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.threads, state.idle, state.queue.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc, Barrier};
    use std::time::Instant;

    /// Awaits `future` on this plain thread, with no runtime: the handle works anywhere.
    use crate::runtime::wait::wait as park_on;

    fn test_pool(max_threads: usize, keep_alive: Duration) -> &'static Pool {
        Box::leak(Box::new(Pool::new(max_threads, keep_alive)))
    }

    fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done() {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        done()
    }

    #[test]
    fn works_without_a_runtime_and_runs_on_a_named_thread() {
        let name = park_on(spawn_blocking(|| {
            thread::current().name().map(str::to_owned)
        }));
        assert_eq!(name.unwrap().as_deref(), Some(THREAD_NAME));
    }

    #[test]
    fn a_panic_becomes_a_join_error() {
        let err = park_on(spawn_blocking(|| -> u32 { panic!("blocking boom") })).unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("blocking boom"), "{err}");
    }

    #[test]
    fn threads_grow_to_the_cap_then_jobs_queue() {
        let pool = test_pool(3, Duration::from_secs(10));
        let gate = Arc::new(Barrier::new(4)); // three jobs and this thread
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let gate = gate.clone();
                spawn_on(pool, move || {
                    gate.wait();
                    i
                })
            })
            .collect();
        // Three jobs hold three threads; two more queue behind them.
        let queued: Vec<_> = (3..5).map(|i| spawn_on(pool, move || i)).collect();
        assert!(
            wait_until(Duration::from_secs(5), || pool.counts() == (3, 0, 2)),
            "{:?}",
            pool.counts()
        );
        gate.wait();
        let all: Vec<_> = handles.into_iter().chain(queued).map(park_on).collect();
        assert_eq!(
            all.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(pool.counts().0 <= 3);
    }

    #[test]
    fn an_idle_thread_is_reused_then_exits_after_keep_alive() {
        let pool = test_pool(8, Duration::from_millis(200));
        let first = park_on(spawn_on(pool, || thread::current().id())).unwrap();
        assert!(wait_until(Duration::from_secs(2), || pool.counts() == (1, 1, 0)));
        let second = park_on(spawn_on(pool, || thread::current().id())).unwrap();
        assert_eq!(first, second, "the idle thread took the second job");
        assert!(
            wait_until(Duration::from_secs(5), || pool.counts() == (0, 0, 0)),
            "the idle thread exited: {:?}",
            pool.counts()
        );
        // And the pool starts again afterwards.
        assert_eq!(park_on(spawn_on(pool, || 7)).unwrap(), 7);
    }

    #[test]
    fn a_dropped_handle_detaches_and_the_closure_still_runs() {
        let pool = test_pool(2, Duration::from_secs(10));
        let (tx, rx) = mpsc::channel();
        drop(spawn_on(pool, move || tx.send("ran").unwrap()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("ran"));
    }

    #[test]
    fn many_jobs_from_many_threads_all_complete() {
        let pool = test_pool(4, Duration::from_millis(50));
        let ran = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..8)
            .map(|t| {
                let ran = ran.clone();
                thread::spawn(move || {
                    let handles: Vec<_> = (0..200)
                        .map(|i| {
                            let ran = ran.clone();
                            spawn_on(pool, move || {
                                ran.fetch_add(1, Ordering::Relaxed);
                                t * 1000 + i
                            })
                        })
                        .collect();
                    for (i, handle) in handles.into_iter().enumerate() {
                        assert_eq!(park_on(handle).unwrap(), t * 1000 + i);
                    }
                })
            })
            .collect();
        for submitter in submitters {
            submitter.join().unwrap();
        }
        assert_eq!(ran.load(Ordering::Relaxed), 1600);
        assert!(pool.counts().0 <= 4);
    }

    #[test]
    fn the_handle_is_send() {
        fn is_send<T: Send>(_: &T) {}
        let handle = spawn_blocking(|| 1);
        is_send(&handle);
        assert_eq!(park_on(handle).unwrap(), 1);
    }
}
