//! Dropping a `MultiRuntime` while every worker is busy — tasks asleep on long timers, tasks
//! looping on `coring::runtime::nop()` (so ops are in flight on every ring), tasks waiting on
//! channel receives fed from the other worker — stops every worker within a few seconds, and no
//! `coring-worker-N` thread is left behind. A panic inside a worker's task (while running, while
//! being dropped at shutdown, or in a worker's main) does not hang shutdown either.
//!
//! The tests in this file count the process's threads, so they run one at a time.

mod common;

use coring::sync::{mpsc, oneshot};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a drop may take: ops in flight must be cancelled and reaped, not waited out.
const DROP_LIMIT: Duration = Duration::from_secs(5);
/// How long a joined thread may still be listed in `/proc/self/task` while the kernel finishes
/// its exit.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// A hang fails the test instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(30);

/// Tests here look at every thread of the process, so they must not overlap.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `body` on its own thread, one scenario at a time, and fails if it does not finish
/// within `limit`.
fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    common::within(limit, body)
}

/// Names of this process's threads that are coring workers (`/proc/self/task/*/comm`).
fn worker_threads() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        // A thread may exit between listing and reading: skip it.
        let Ok(comm) = std::fs::read_to_string(entry.unwrap().path().join("comm")) else {
            continue;
        };
        let comm = comm.trim().to_owned();
        if comm.starts_with("coring-worker") {
            names.push(comm);
        }
    }
    names.sort();
    names
}

/// Drops `runtime`, checks it took less than `DROP_LIMIT`, and that no worker thread is left.
fn drop_and_check(runtime: coring::runtime::MultiRuntime) {
    let started = Instant::now();
    drop(runtime);
    let took = started.elapsed();
    assert!(took < DROP_LIMIT, "dropping the runtime took {took:?}");
    // `join` returns when the kernel clears the thread's tid, which `do_exit` does before it
    // unhashes the task from `/proc`: a joined thread can still be listed for a moment (fresh-clone
    // CI on a loaded machine saw one). A thread that was not joined stays, and still fails here.
    let deadline = Instant::now() + EXIT_GRACE;
    let mut left = worker_threads();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        left = worker_threads();
    }
    assert!(left.is_empty(), "threads left behind: {left:?}");
}

/// What the busy tasks did before the drop, to check they really were busy.
#[derive(Default)]
struct Progress {
    nops: AtomicU64,
    received: AtomicU64,
}

/// On the calling worker: long sleeps, nop loops and channel receivers, all left running.
/// The returned senders feed the receivers; they are handed to the *other* worker.
fn start_busy_tasks(progress: Arc<Progress>) -> Vec<mpsc::Sender<u64>> {
    for _ in 0..8 {
        coring::spawn(async {
            coring::time::sleep(Duration::from_secs(3600)).await;
            unreachable!("slept an hour");
        });
    }
    for _ in 0..4 {
        let progress = progress.clone();
        coring::spawn(async move {
            loop {
                coring::runtime::nop().await.unwrap();
                progress.nops.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    (0..4)
        .map(|_| {
            let (tx, mut rx) = mpsc::channel::<u64>(4);
            let progress = progress.clone();
            coring::spawn(async move {
                while let Some(_n) = rx.recv().await {
                    progress.received.fetch_add(1, Ordering::Relaxed);
                }
            });
            tx
        })
        .collect()
}

/// Every worker gets busy tasks; each worker's receivers are fed (then left waiting) by a task
/// on the other worker, which then waits forever itself.
fn busy_runtime(workers: usize, progress: &Arc<Progress>) -> coring::runtime::MultiRuntime {
    let runtime = coring::Builder::new()
        .workers(workers)
        .build_multi()
        .unwrap();
    let all_senders: Vec<Vec<mpsc::Sender<u64>>> = runtime.run_on_all({
        let progress = progress.clone();
        move |_| {
            let progress = progress.clone();
            async move { start_busy_tasks(progress) }
        }
    });
    for (index, senders) in all_senders.into_iter().enumerate() {
        let other = &runtime.handles()[(index + 1) % workers];
        // Detached: the feeder keeps running on the other worker until shutdown.
        drop(other.spawn(async move {
            for (n, tx) in senders.iter().enumerate() {
                tx.send(n as u64).await.unwrap();
            }
            // Keep the senders alive so the receivers keep waiting; wait on a oneshot nobody
            // will complete (its sender lives in this same future).
            let (_never_tx, never) = oneshot::channel::<()>();
            let _ = never.await;
            drop(senders);
        }));
    }
    runtime
}

#[test]
fn dropping_a_busy_multi_runtime_returns_quickly_and_leaves_no_thread() {
    within(LIMIT, || {
        let progress = Arc::new(Progress::default());
        let runtime = busy_runtime(2, &progress);
        assert_eq!(worker_threads(), ["coring-worker-0", "coring-worker-1"]);
        // Let them run a while.
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            progress.nops.load(Ordering::Relaxed) > 0,
            "no nop completed"
        );
        assert_eq!(progress.received.load(Ordering::Relaxed), 8);
        drop_and_check(runtime);
    });
}

#[test]
fn dropping_right_after_start_leaves_no_thread() {
    // No settling time: ops, injections and wake-ups are still on their way when the drop
    // starts. Repeat, since this is about races.
    within(LIMIT, || {
        for _ in 0..20 {
            let progress = Arc::new(Progress::default());
            let runtime = busy_runtime(2, &progress);
            drop_and_check(runtime);
        }
    });
}

#[test]
fn dropping_with_more_workers_than_cores_leaves_no_thread() {
    within(LIMIT, || {
        let progress = Arc::new(Progress::default());
        let runtime = busy_runtime(4, &progress);
        assert_eq!(worker_threads().len(), 4);
        std::thread::sleep(Duration::from_millis(50));
        drop_and_check(runtime);
    });
}

#[test]
fn work_spawned_on_a_worker_that_stopped_reports_cancelled() {
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let handle = runtime.handles()[1].clone();
        let pending = handle.spawn_with(|| async {
            coring::time::sleep(Duration::from_secs(3600)).await;
        });
        drop_and_check(runtime);
        // The task was dropped at shutdown; the handle says so instead of hanging.
        let err = park_on(pending).expect_err("the worker stopped");
        assert!(err.is_cancelled(), "{err:?}");
        // Spawning on a stopped worker fails the same way.
        let err = park_on(handle.spawn(async { 1 })).expect_err("the worker stopped");
        assert!(err.is_cancelled(), "{err:?}");
    });
}

#[test]
fn panics_in_workers_tasks_do_not_hang_shutdown() {
    within(LIMIT, || {
        let progress = Arc::new(Progress::default());
        let runtime = busy_runtime(2, &progress);
        // A panicking task on every worker, while the others are busy.
        let outcomes = runtime.run_on_all(|index| async move {
            let failed = coring::spawn(async move {
                coring::time::sleep(Duration::from_millis(5)).await;
                panic!("task panicked on worker {index}");
            })
            .await;
            failed.expect_err("it panicked").is_panic()
        });
        assert_eq!(outcomes, [true, true]);
        // Tasks whose futures panic when dropped at shutdown.
        runtime.run_on_all(|_| async {
            for _ in 0..4 {
                coring::spawn(async {
                    let _bomb = PanicOnDrop;
                    coring::time::sleep(Duration::from_secs(3600)).await;
                });
            }
        });
        // A worker's main that panics: resumed here, and the runtime is still fine.
        let panic = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.run_on_all(|index| async move {
                if index == 0 {
                    panic!("main of worker 0 panicked");
                }
            })
        }));
        assert!(panic.is_err());
        std::thread::sleep(Duration::from_millis(50));
        drop_and_check(runtime);
    });
}

#[test]
fn a_detached_task_whose_output_panics_when_dropped_does_not_hang_shutdown() {
    // The task finishes normally but nobody wants its output: dropping the output panics on
    // the worker. Whatever the worker does about it, the other worker and shutdown must go on.
    within(LIMIT, || {
        let progress = Arc::new(Progress::default());
        let runtime = busy_runtime(2, &progress);
        runtime.block_on(async {
            let other = coring::runtime::workers()[1].clone();
            other
                .spawn(async {
                    drop(coring::spawn(async {
                        coring::task::yield_now().await;
                        PanicOnDrop
                    }));
                })
                .await
                .unwrap();
        });
        std::thread::sleep(Duration::from_millis(50));
        // Worker 0 still serves work.
        assert_eq!(
            runtime.block_on(async { coring::runtime::current_worker() }),
            Some(0)
        );
        drop_and_check(runtime);
    });
}

#[test]
fn a_detached_task_whose_output_panics_when_dropped_leaves_its_worker_running() {
    // docs/ARCHITECTURE.md, invariant 6: "A panicking task yields Err(JoinError) and the
    // runtime goes on." A panic in dropping a detached task's output is the task's panic too; it
    // must not take the worker down with it.
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let other = runtime.handles()[1].clone();
        park_on(other.spawn(async {
            drop(coring::spawn(async {
                coring::task::yield_now().await;
                PanicOnDrop
            }));
        }))
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let after = park_on(other.spawn(async { coring::runtime::current_worker() }));
        assert_eq!(
            after.ok(),
            Some(Some(1)),
            "worker 1 stopped after the panic"
        );
        drop_and_check(runtime);
    });
}

#[test]
fn an_aborted_task_whose_future_panics_when_dropped_leaves_its_worker_running() {
    // Aborting drops the future on the next run; a panic there is the task's panic too.
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let other = runtime.handles()[1].clone();
        let aborted = park_on(other.spawn_with(|| async {
            let task = coring::spawn(async {
                let _bomb = PanicOnDrop;
                coring::time::sleep(Duration::from_secs(3600)).await;
            });
            coring::task::yield_now().await;
            task.abort();
            // Cancelled or panicked are both fair answers; an `Ok` or no answer is not.
            task.await.is_err()
        }));
        assert_eq!(
            aborted.ok(),
            Some(true),
            "abort with a panicking drop: the task's handle should give a JoinError, and \
             worker 1 live on"
        );
        let after = park_on(other.spawn(async { coring::runtime::current_worker() }));
        assert_eq!(
            after.ok(),
            Some(Some(1)),
            "worker 1 stopped after the panic"
        );
        drop_and_check(runtime);
    });
}

/// Set in a re-executed copy of this test binary that runs one scenario in isolation (so a hang
/// there cannot leave worker threads behind in the other tests of this process).
const CHILD_ENV: &str = "CORING_SHUTDOWN_TEST_CHILD";

#[test]
fn dropping_a_multi_runtime_inside_a_coring_runtime_returns() {
    // A thread that runs a single-core runtime has a ring, so the wake-ups that dropping the
    // MultiRuntime sends its workers go out as MSG_RING entries on *this* thread's ring. They
    // must still reach the workers while this thread blocks joining them. (Hangs today: the
    // entries wait for this ring's next submit, which never comes.)
    const NAME: &str = "dropping_a_multi_runtime_inside_a_coring_runtime_returns";
    if std::env::var_os(CHILD_ENV).is_some() {
        coring::block_on(async {
            let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
            // Let the workers go idle (blocked in the kernel), as they would in real use.
            std::thread::sleep(Duration::from_millis(50));
            drop(runtime);
        });
        println!("{CHILD_ENV}: done");
        return;
    }
    within(LIMIT, || {
        let output = run_child(NAME, Duration::from_secs(10));
        assert!(
            output.contains(&format!("{CHILD_ENV}: done")),
            "the drop did not return within 10 s:\n{output}"
        );
    });
}

/// Re-executes this test binary for the one test `name`, kills it after `limit`, and returns
/// its output.
fn run_child(name: &str, limit: Duration) -> String {
    use std::io::Read;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut output = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut output);
    let _ = child.stderr.take().unwrap().read_to_string(&mut output);
    output
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("PanicOnDrop dropped");
        }
    }
}

/// Waits for `future` on this plain thread (no ring): park until woken.
fn park_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
