//! A task parked on a worker is woken from elsewhere, and the wake-up takes the expected path
//! (as counted by the metrics' `notified_by_msg_ring` and `notified_by_eventfd`):
//!
//! * from a task on another worker: `MSG_RING`, ring to ring;
//! * from a plain `std::thread` (no ring): the worker's eventfd;
//! * from another worker when `.msg_ring(false)`: the eventfd.
//!
//! Each scenario lets the target worker go idle first (so it is blocked in the kernel and really
//! needs the wake-up), then completes a oneshot the target's task awaits. Whatever the path, the
//! wake-up must arrive promptly, even when the waking worker stays busy after the wake.

mod common;

use common::within;
use coring::sync::oneshot;
use std::time::{Duration, Instant};

/// A hang fails the test instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(30);
/// Long enough for an idle worker to block in `io_uring_enter`.
const SETTLE: Duration = Duration::from_millis(50);

/// Who completes the oneshot that the task on worker 1 waits for.
#[derive(Clone, Copy, Debug)]
enum Waker {
    Worker0,
    PlainThread,
}

/// Parks a task on worker 1 on a oneshot, lets worker 1 go idle, completes the oneshot from
/// `waker`, and returns worker 1's `(MSG_RING, eventfd)` wake counts for just that wake-up, plus
/// the whole runtime's counts.
fn wake_worker_1(msg_ring: bool, waker: Waker) -> ((u64, u64), Vec<(u64, u64)>) {
    let runtime = coring::Builder::new()
        .workers(2)
        .msg_ring(msg_ring)
        .build_multi()
        .unwrap();
    let (tx, rx) = oneshot::channel::<u64>();
    let waiting = runtime.handles()[1].spawn(async move {
        let value = rx.await.expect("the sender sends");
        (value, coring::runtime::current_worker())
    });
    std::thread::sleep(SETTLE);
    let before = common::notified_per_worker(&runtime)[1];
    match waker {
        Waker::Worker0 => runtime.block_on(async move {
            assert_eq!(coring::runtime::current_worker(), Some(0));
            tx.send(7).unwrap();
        }),
        Waker::PlainThread => std::thread::spawn(move || tx.send(7).unwrap())
            .join()
            .unwrap(),
    }
    let (value, worker) = park_on(waiting).unwrap();
    assert_eq!((value, worker), (7, Some(1)));
    let after = common::notified_per_worker(&runtime)[1];
    let delta = (after.0 - before.0, after.1 - before.1);
    (delta, common::notified_per_worker(&runtime))
}

#[test]
fn a_wake_from_another_worker_goes_through_msg_ring() {
    if common::skip::io_uring_only("a_wake_from_another_worker_goes_through_msg_ring") {
        return;
    }
    let (delta, all) = within(LIMIT, || wake_worker_1(true, Waker::Worker0));
    assert!(
        delta.0 > 0,
        "no MSG_RING wake counted on worker 1: {delta:?}"
    );
    assert_eq!(
        delta.1, 0,
        "worker 1 was woken through its eventfd: {delta:?}"
    );
    // Worker 0's reply to the main thread (no ring) needs no wake of a worker at all; the
    // main thread's request to worker 0 did go through worker 0's eventfd.
    assert!(all[0].1 > 0, "{all:?}");
}

#[test]
fn a_wake_from_a_plain_thread_goes_through_the_eventfd() {
    let (delta, _) = within(LIMIT, || wake_worker_1(true, Waker::PlainThread));
    assert!(
        delta.1 > 0,
        "no eventfd wake counted on worker 1: {delta:?}"
    );
    assert_eq!(
        delta.0, 0,
        "a thread without a ring used MSG_RING: {delta:?}"
    );
}

#[test]
fn without_msg_ring_workers_wake_each_other_through_the_eventfd() {
    let (delta, all) = within(LIMIT, || wake_worker_1(false, Waker::Worker0));
    assert!(
        delta.1 > 0,
        "no eventfd wake counted on worker 1: {delta:?}"
    );
    assert_eq!(delta.0, 0, "MSG_RING used although disabled: {delta:?}");
    assert!(all.iter().all(|&(msg_ring, _)| msg_ring == 0), "{all:?}");
}

#[test]
fn workers_ping_pong_through_msg_ring_without_losing_a_wake() {
    if common::skip::io_uring_only("workers_ping_pong_through_msg_ring_without_losing_a_wake") {
        return;
    }
    // Many back-to-back wakes in both directions: any lost wake-up would hang (and trip LIMIT).
    let all = within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let rounds = runtime.block_on(async {
            let (ping_tx, mut ping_rx) = coring::sync::mpsc::channel::<u32>(1);
            let (pong_tx, mut pong_rx) = coring::sync::mpsc::channel::<u32>(1);
            let echo = coring::runtime::workers()[1].spawn(async move {
                let mut n = 0;
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v + 1).await.unwrap();
                    n += 1;
                }
                n
            });
            for i in 0..5_000 {
                ping_tx.send(i).await.unwrap();
                assert_eq!(pong_rx.recv().await, Some(i + 1));
            }
            drop(ping_tx);
            echo.await.unwrap()
        });
        assert_eq!(rounds, 5_000);
        common::notified_per_worker(&runtime)
    });
    // Both sides spent time parked waiting for the other, so both got MSG_RING wakes.
    assert!(all[0].0 > 0 && all[1].0 > 0, "{all:?}");
}

/// Whether a parked worker 1 wakes while worker 0, after sending, keeps its core busy (a long
/// poll, no yield). Worker 0 spins until worker 1's task says it woke, or for `BUSY` at most: a
/// wake that waited for the end of worker 0's turn comes only after that, and fails. (Events,
/// not a latency bound: on a loaded machine worker 1 may wait long for a core, but it wakes
/// while worker 0 still spins.)
fn wakes_while_the_sender_stays_busy(msg_ring: bool) -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    /// Far longer than any scheduling delay, far shorter than LIMIT.
    const BUSY: Duration = Duration::from_secs(10);
    let runtime = coring::Builder::new()
        .workers(2)
        .msg_ring(msg_ring)
        .build_multi()
        .unwrap();
    let woke = Arc::new(AtomicBool::new(false));
    let (tx, rx) = oneshot::channel::<()>();
    let waiting = runtime.handles()[1].spawn({
        let woke = woke.clone();
        async move {
            rx.await.unwrap();
            woke.store(true, Ordering::Release);
        }
    });
    std::thread::sleep(SETTLE);
    let woke_meanwhile = runtime.block_on(async move {
        tx.send(()).unwrap();
        let busy = Instant::now();
        while !woke.load(Ordering::Acquire) && busy.elapsed() < BUSY {
            std::hint::spin_loop();
        }
        woke.load(Ordering::Acquire)
    });
    park_on(waiting).unwrap();
    woke_meanwhile
}

#[test]
fn a_busy_worker_wakes_a_parked_worker_at_once_through_the_eventfd() {
    assert!(
        within(LIMIT, || wakes_while_the_sender_stays_busy(false)),
        "worker 1 woke only after the sender's busy turn"
    );
}

#[test]
fn a_busy_worker_wakes_a_parked_worker_at_once_through_msg_ring() {
    // The wake-up must not wait for the sender's core to finish its turn: worker 1 sits idle
    // with work to do for as long as worker 0 stays busy. (A MSG_RING entry left in worker 0's
    // submission queue until its next `io_uring_enter` fails this.)
    assert!(
        within(LIMIT, || wakes_while_the_sender_stays_busy(true)),
        "worker 1 woke only after the sender's busy turn"
    );
}

#[test]
fn a_single_core_runtime_counts_wakes_from_a_plain_thread() {
    within(LIMIT, || {
        let runtime = coring::Runtime::new().unwrap();
        let before = common::notified(&runtime.metrics());
        let (tx, rx) = oneshot::channel::<u32>();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(SETTLE);
            tx.send(5).unwrap();
        });
        let started = Instant::now();
        assert_eq!(runtime.block_on(rx), Ok(5));
        assert!(started.elapsed() < Duration::from_secs(5));
        sender.join().unwrap();
        let after = common::notified(&runtime.metrics());
        assert!(after.1 > before.1, "{before:?} -> {after:?}");
        assert_eq!(after.0, before.0, "{before:?} -> {after:?}");
    });
}

#[test]
fn a_worker_wakes_a_single_core_runtime_through_msg_ring() {
    if common::skip::io_uring_only("a_worker_wakes_a_single_core_runtime_through_msg_ring") {
        return;
    }
    // The waker runs on a worker (which has a ring), the woken runtime is a plain `Runtime` on
    // this thread: ring to ring as well.
    within(LIMIT, || {
        let workers = coring::Builder::new().workers(1).build_multi().unwrap();
        let runtime = coring::Runtime::new().unwrap();
        let (tx, rx) = oneshot::channel::<u32>();
        let before = common::notified(&runtime.metrics());
        // `spawn_with`: a `Sleep` is not `Send`, so the future is built on the worker.
        let sender = workers.handles()[0].spawn_with(move || async move {
            coring::time::sleep(SETTLE).await;
            tx.send(9).unwrap();
        });
        assert_eq!(runtime.block_on(rx), Ok(9));
        park_on(sender).unwrap();
        let after = common::notified(&runtime.metrics());
        assert!(after.0 > before.0, "{before:?} -> {after:?}");
        assert_eq!(after.1, before.1, "{before:?} -> {after:?}");
    });
}

/// Waits for `future` on this plain thread (no ring): park until woken.
fn park_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
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
