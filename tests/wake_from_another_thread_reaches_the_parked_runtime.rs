//! A runtime with nothing to do and no timers parks in the kernel with no timeout. A wake from a
//! plain `std::thread` must still reach it: through a channel the thread feeds, and through a raw
//! `Waker` the thread calls directly, over and over (racing the runtime going to sleep).
//!
//! No `coring::time::timeout` here on purpose: its timer would bound the park. A watchdog thread
//! turns a lost wake-up into a failure instead.

mod common;

use common::Watchdog;
use coring::sync::{mpsc, oneshot};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(100);

#[test]
fn block_on_future_waits_on_a_oneshot_sent_from_a_thread() {
    let _watchdog = Watchdog::new(10, "block_on_future_waits_on_a_oneshot_sent_from_a_thread");
    let runtime = coring::Runtime::new().unwrap();
    let (value, took) = runtime.block_on(async {
        let (tx, rx) = oneshot::channel::<u32>();
        let start = Instant::now();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(DELAY);
            tx.send(42).unwrap();
        });
        assert_eq!(
            runtime.metrics().pending_timers,
            0,
            "nothing may bound the park"
        );
        let value = rx.await.unwrap();
        sender.join().unwrap();
        (value, start.elapsed())
    });
    assert_eq!(value, 42);
    assert!(took >= DELAY, "{took:?}");
    let (msg_ring, eventfd) = common::notified(&runtime.metrics());
    assert!(
        msg_ring + eventfd >= 1,
        "the parked runtime was woken: {:?}",
        common::notified(&runtime.metrics())
    );
}

#[test]
fn spawned_task_waits_on_a_oneshot_sent_from_a_thread() {
    let _watchdog = Watchdog::new(10, "spawned_task_waits_on_a_oneshot_sent_from_a_thread");
    let runtime = coring::Runtime::new().unwrap();
    let (tx, rx) = oneshot::channel::<&'static str>();
    let value = runtime.block_on(async {
        let task = coring::spawn(async move { rx.await.unwrap() });
        let sender = std::thread::spawn(move || {
            std::thread::sleep(DELAY);
            tx.send("hello").unwrap();
        });
        assert_eq!(runtime.metrics().pending_timers, 0);
        let value = task.await.unwrap();
        sender.join().unwrap();
        value
    });
    assert_eq!(value, "hello");
}

#[test]
fn spawned_task_receives_a_trickle_of_mpsc_messages_from_a_thread() {
    let _watchdog = Watchdog::new(
        20,
        "spawned_task_receives_a_trickle_of_mpsc_messages_from_a_thread",
    );
    let runtime = coring::Runtime::new().unwrap();
    let received = runtime.block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        let task = coring::spawn(async move {
            let mut got = Vec::new();
            while let Some(n) = rx.recv().await {
                got.push(n);
            }
            got
        });
        let sender = std::thread::spawn(move || {
            // The bounded send may wait: give this thread a runtime of its own to wait on.
            let own = coring::Runtime::new().unwrap();
            for n in 0..20 {
                // Long enough for the receiving runtime to park between messages.
                std::thread::sleep(Duration::from_millis(10));
                own.block_on(tx.send(n)).unwrap();
            }
        });
        let got = task.await.unwrap();
        sender.join().unwrap();
        got
    });
    assert_eq!(received, (0..20).collect::<Vec<_>>());
}

/// Awaits `rounds` wake-ups, each delivered by `waker_thread` calling a clone of this future's
/// raw `Waker`. A poll before the flag is set (a spurious poll) must not count as a wake.
async fn take_raw_wakes(rounds: usize, polls: &AtomicUsize) {
    let (send_waker, wakers) = channel::<(Waker, Arc<AtomicBool>)>();
    let waker_thread = std::thread::spawn(move || {
        let mut n = 0usize;
        while let Ok((waker, flag)) = wakers.recv() {
            if n % 100 == 0 {
                // Sometimes late enough that the runtime surely parked in the kernel.
                std::thread::sleep(Duration::from_millis(5));
            }
            flag.store(true, Ordering::SeqCst);
            if n % 2 == 0 {
                waker.wake();
            } else {
                waker.wake_by_ref();
            }
            n += 1;
        }
        n
    });
    for round in 0..rounds {
        let flag = Arc::new(AtomicBool::new(false));
        let mut sent = false;
        poll_fn(|cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            if flag.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            if !sent {
                sent = true;
                send_waker
                    .send((cx.waker().clone(), flag.clone()))
                    .unwrap_or_else(|_| panic!("waker thread gone at round {round}"));
            }
            Poll::Pending
        })
        .await;
    }
    drop(send_waker);
    assert_eq!(waker_thread.join().unwrap(), rounds);
}

#[test]
fn raw_waker_woken_from_a_thread_a_thousand_times_reaches_block_on() {
    let _watchdog = Watchdog::new(
        30,
        "raw_waker_woken_from_a_thread_a_thousand_times_reaches_block_on",
    );
    let runtime = coring::Runtime::new().unwrap();
    let polls = AtomicUsize::new(0);
    runtime.block_on(take_raw_wakes(1_000, &polls));
    assert!(polls.load(Ordering::Relaxed) >= 2_000);
    assert_eq!(runtime.metrics().pending_timers, 0);
}

#[test]
fn raw_waker_woken_from_a_thread_a_thousand_times_reaches_a_task() {
    let _watchdog = Watchdog::new(
        30,
        "raw_waker_woken_from_a_thread_a_thousand_times_reaches_a_task",
    );
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let polls = Arc::new(AtomicUsize::new(0));
        let task_polls = polls.clone();
        coring::spawn(async move { take_raw_wakes(1_000, &task_polls).await })
            .await
            .unwrap();
        assert!(polls.load(Ordering::Relaxed) >= 2_000);
    });
    assert_eq!(runtime.metrics().live_tasks, 0);
}
