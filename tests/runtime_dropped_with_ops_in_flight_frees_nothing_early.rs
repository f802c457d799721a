//! Dropping a runtime while tasks sleep, wait on channels and have a thousand no-ops in the ring
//! drops every task's future (their `Rc` drop flags all fire, on this thread), does not panic or
//! hang, and leaves the thread able to run a fresh runtime.
//!
//! "Frees nothing early" is checked through the gauges: the runtime reports operations in the
//! ring before the drop, and the drop waits for them (invariant 3 of the design notes); a freed
//! buffer would not be visible here, which is what the op-level tests with `Rc` payloads cover.

mod common;

use common::Watchdog;
use coring::sync::{mpsc, oneshot};
use coring::time::sleep;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

/// Counts drops.
struct DropFlag(Rc<Cell<usize>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

const SLEEPERS: usize = 100;
const NOPS: usize = 1_000;
const WAITERS: usize = 50;

/// Spawns the stuck tasks on the current runtime; returns how many futures hold a flag.
fn spawn_stuck_tasks(dropped: &Rc<Cell<usize>>) -> usize {
    let mut flags = 0;
    for i in 0..SLEEPERS {
        let flag = DropFlag(dropped.clone());
        coring::spawn(async move {
            let _flag = flag;
            sleep(Duration::from_secs(3600 + i as u64)).await;
        });
        flags += 1;
    }
    // A thousand no-ops, ten tasks of a hundred each, pushed right before the runtime returns.
    for _ in 0..NOPS / 100 {
        let flag = DropFlag(dropped.clone());
        coring::spawn(async move {
            let _flag = flag;
            loop {
                let nops = (0..100).map(|_| coring::runtime::nop());
                for result in coring::task::join_all(nops).await {
                    result.unwrap();
                }
            }
        });
        flags += 1;
    }
    // Waiters on channels whose senders are held by other stuck tasks (a cycle of sorts).
    for _ in 0..WAITERS {
        let (tx, rx) = oneshot::channel::<()>();
        let (mtx, mut mrx) = mpsc::channel::<u8>(1);
        let flag = DropFlag(dropped.clone());
        coring::spawn(async move {
            let _flag = flag;
            let _keep = mtx;
            let _ = rx.await;
        });
        let flag = DropFlag(dropped.clone());
        coring::spawn(async move {
            let _flag = flag;
            let _keep = tx;
            let _ = mrx.recv().await;
        });
        flags += 2;
    }
    flags
}

#[test]
fn dropping_a_runtime_with_pending_tasks_and_ops_drops_every_future() {
    let _watchdog = Watchdog::new(
        30,
        "dropping_a_runtime_with_pending_tasks_and_ops_drops_every_future",
    );
    let dropped = Rc::new(Cell::new(0));
    let runtime = coring::Runtime::new().unwrap();
    let flags = runtime.block_on(async {
        let flags = spawn_stuck_tasks(&dropped);
        // Let every task start: sleeps registered, no-ops pushed and submitted.
        coring::task::yield_now().await;
        coring::task::yield_now().await;
        flags
    });
    assert_eq!(dropped.get(), 0, "nothing dropped while the runtime lives");
    assert_eq!(runtime.metrics().live_tasks, flags);
    assert_eq!(runtime.metrics().pending_timers, SLEEPERS);
    eprintln!(
        "at drop: {} ops in flight, {} slots in use",
        runtime.metrics().ops_in_flight,
        runtime.metrics().op_slots_in_use
    );
    // On epoll a no-op completes when polled: no slot is ever in use, and the rest of the
    // promise (every future dropped, a quick shutdown, a clean thread) is the same.
    if runtime.backend() == coring::Backend::IoUring {
        assert!(
            runtime.metrics().op_slots_in_use > 0,
            "the no-op tasks have operations outstanding"
        );
    }
    let start = Instant::now();
    drop(runtime);
    let took = start.elapsed();
    assert_eq!(dropped.get(), flags, "every task's future was dropped");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    // The thread is clean: a new runtime works, with I/O, timers and tasks.
    let second = coring::Runtime::new().unwrap();
    let sum = second.block_on(async {
        coring::runtime::nop().await.unwrap();
        sleep(Duration::from_millis(5)).await;
        coring::spawn(async { 40 }).await.unwrap() + 2
    });
    assert_eq!(sum, 42);
    assert_eq!(second.metrics().live_tasks, 0);
    assert_eq!(second.metrics().op_slots_in_use, 0);
}

#[test]
fn dropping_a_runtime_whose_tasks_were_never_run_drops_them() {
    let _watchdog = Watchdog::new(
        10,
        "dropping_a_runtime_whose_tasks_were_never_run_drops_them",
    );
    let dropped = Rc::new(Cell::new(0));
    let polled = Rc::new(Cell::new(false));
    let runtime = coring::Runtime::new().unwrap();
    for _ in 0..10 {
        let flag = DropFlag(dropped.clone());
        let polled = polled.clone();
        drop(runtime.spawn(async move {
            let _flag = flag;
            polled.set(true);
        }));
    }
    assert_eq!(runtime.metrics().live_tasks, 10);
    drop(runtime);
    assert_eq!(dropped.get(), 10);
    assert!(!polled.get(), "shutdown drops futures without polling them");
}

#[test]
fn a_join_handle_outliving_its_runtime_reports_cancelled() {
    let _watchdog = Watchdog::new(10, "a_join_handle_outliving_its_runtime_reports_cancelled");
    let first = coring::Runtime::new().unwrap();
    let handle = first.spawn(async {
        sleep(Duration::from_secs(3600)).await;
        1
    });
    first.block_on(coring::task::yield_now());
    drop(first);
    assert!(handle.is_finished(), "shutdown finished the task");
    // Awaited on another runtime of the same thread: it must not hang or panic.
    let second = coring::Runtime::new().unwrap();
    let result = second.block_on(handle);
    assert!(result.unwrap_err().is_cancelled());
}

#[test]
fn futures_that_spawn_and_wake_while_dropped_at_shutdown_are_dropped_too() {
    let _watchdog = Watchdog::new(
        10,
        "futures_that_spawn_and_wake_while_dropped_at_shutdown_are_dropped_too",
    );
    /// Spawns another (flagged) task and sends on a channel from its destructor.
    struct Rude {
        flag: DropFlag,
        reply: Option<oneshot::Sender<()>>,
    }
    impl Drop for Rude {
        fn drop(&mut self) {
            let flag = DropFlag(self.flag.0.clone());
            coring::spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await;
            });
            if let Some(reply) = self.reply.take() {
                let _ = reply.send(());
            }
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        for _ in 0..20 {
            let (tx, rx) = oneshot::channel();
            let rude = Rude {
                flag: DropFlag(dropped.clone()),
                reply: Some(tx),
            };
            let waiter_flag = DropFlag(dropped.clone());
            coring::spawn(async move {
                let _flag = waiter_flag;
                let _ = rx.await;
            });
            coring::spawn(async move {
                let _rude = rude;
                std::future::pending::<()>().await;
            });
        }
        coring::task::yield_now().await;
    });
    drop(runtime);
    // 20 Rude + 20 waiters + 20 tasks spawned from the destructors.
    assert_eq!(dropped.get(), 60);
    let again = coring::Runtime::new().unwrap();
    assert_eq!(again.block_on(async { 5 }), 5);
}

#[test]
fn a_waker_that_outlives_its_runtime_on_another_thread_is_harmless() {
    let _watchdog = Watchdog::new(
        10,
        "a_waker_that_outlives_its_runtime_on_another_thread_is_harmless",
    );
    let dropped = Rc::new(Cell::new(0));
    let (send_waker, wakers) = channel::<std::task::Waker>();
    let (go, wait_for_go) = channel::<()>();
    let holder = std::thread::spawn(move || {
        let waker = wakers.recv().unwrap();
        wait_for_go.recv().unwrap();
        // The runtime and the task's future are gone by now.
        waker.wake_by_ref();
        waker.wake();
    });
    let runtime = coring::Runtime::new().unwrap();
    let flag = DropFlag(dropped.clone());
    runtime.block_on(async {
        coring::spawn(async move {
            let _flag = flag;
            let mut sent = false;
            std::future::poll_fn(|cx| {
                if !sent {
                    sent = true;
                    send_waker.send(cx.waker().clone()).unwrap();
                }
                std::task::Poll::<()>::Pending
            })
            .await;
        });
        coring::task::yield_now().await;
    });
    drop(runtime);
    assert_eq!(dropped.get(), 1);
    go.send(()).unwrap();
    holder
        .join()
        .expect("waking a task of a dropped runtime must not panic");
    let again = coring::Runtime::new().unwrap();
    assert_eq!(again.block_on(async { 6 }), 6);
}

#[test]
fn an_op_future_kept_past_its_runtime_can_still_be_dropped() {
    if common::skip::io_uring_only("an_op_future_kept_past_its_runtime_can_still_be_dropped") {
        return;
    }
    let _watchdog = Watchdog::new(
        10,
        "an_op_future_kept_past_its_runtime_can_still_be_dropped",
    );
    let runtime = coring::Runtime::new().unwrap();
    let mut ops: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>>>>> =
        (0..10)
            .map(|_| Box::pin(coring::runtime::nop()) as _)
            .collect();
    runtime.block_on(std::future::poll_fn(|cx| {
        for op in &mut ops {
            assert!(op.as_mut().poll(cx).is_pending());
        }
        std::task::Poll::Ready(())
    }));
    // The ops are submitted (block_on flushes on return) and owned out here, not by a task.
    let start = Instant::now();
    drop(runtime);
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(ops);
    let again = coring::Runtime::new().unwrap();
    again.block_on(async { coring::runtime::nop().await.unwrap() });
}

#[test]
fn a_runtime_dropped_inside_another_runtime_leaves_the_outer_one_working() {
    let _watchdog = Watchdog::new(
        10,
        "a_runtime_dropped_inside_another_runtime_leaves_the_outer_one_working",
    );
    let dropped = Rc::new(Cell::new(0));
    let outer = coring::Runtime::new().unwrap();
    outer.block_on(async {
        let inner = coring::Runtime::new().unwrap();
        for _ in 0..5 {
            let flag = DropFlag(dropped.clone());
            drop(inner.spawn(async move {
                let _flag = flag;
                sleep(Duration::from_secs(3600)).await;
            }));
        }
        drop(inner);
        assert_eq!(dropped.get(), 5);
        // The outer runtime is current again: its tasks, timers and ring work.
        coring::runtime::nop().await.unwrap();
        sleep(Duration::from_millis(2)).await;
        assert_eq!(coring::spawn(async { 2 }).await.unwrap(), 2);
        assert_eq!(outer.metrics().pending_timers, 0);
    });
}
