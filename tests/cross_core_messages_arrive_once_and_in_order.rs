//! 100k messages from a task on worker 0 and 100k from a plain `std::thread`, over one bounded
//! `coring::sync::mpsc` channel (capacity 128, so both senders keep hitting back-pressure) to a
//! task on worker 1: every message arrives exactly once, each sender's in the order sent, and
//! the queue never holds more than its capacity. Run with both wake-up paths between workers
//! (`MSG_RING` and eventfd).

mod common;

use common::within;
use coring::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::time::Duration;

/// A hang fails the test instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(60);
const PER_SENDER: u32 = 100_000;
const CAPACITY: usize = 128;

/// Sender ids inside a message.
const FROM_WORKER: u8 = 0;
const FROM_THREAD: u8 = 1;

/// What the receiver saw.
#[derive(Debug)]
struct Received {
    per_sender: [u32; 2],
    max_queued: usize,
    worker: Option<usize>,
}

fn send_200k_messages_to_worker_1(msg_ring: bool) -> (Received, Vec<(u64, u64)>) {
    let runtime = coring::Builder::new()
        .workers(2)
        .msg_ring(msg_ring)
        .build_multi()
        .unwrap();
    let (tx, mut rx) = mpsc::channel::<(u8, u32)>(CAPACITY);
    assert_eq!(tx.max_capacity(), CAPACITY);

    let receiver = runtime.handles()[1].spawn(async move {
        let mut next = [0u32; 2];
        let mut max_queued = 0;
        while let Some((from, seq)) = rx.recv().await {
            // Senders may refill the slot just freed, so up to CAPACITY may be queued here.
            max_queued = max_queued.max(rx.len());
            let expected = &mut next[usize::from(from)];
            // Equal, not just increasing: a gap is a lost message, a repeat a duplicate.
            assert_eq!(
                seq, *expected,
                "sender {from}: got {seq}, expected {expected}"
            );
            *expected += 1;
            // Be a little slower now and then, so the senders really wait for room.
            if seq % 1024 == 0 {
                coring::task::yield_now().await;
            }
        }
        Received {
            per_sender: next,
            max_queued,
            worker: coring::runtime::current_worker(),
        }
    });

    let thread_tx = tx.clone();
    let thread = std::thread::spawn(move || {
        // A plain thread with no ring and no runtime: a minimal park-until-woken executor.
        park_on(async move {
            for seq in 0..PER_SENDER {
                thread_tx
                    .send((FROM_THREAD, seq))
                    .await
                    .expect("the receiver is alive");
            }
        });
    });

    let from_worker = runtime.handles()[0].spawn(async move {
        for seq in 0..PER_SENDER {
            tx.send((FROM_WORKER, seq))
                .await
                .expect("the receiver is alive");
        }
        coring::runtime::current_worker()
    });

    assert_eq!(park_on(from_worker).unwrap(), Some(0));
    thread.join().unwrap();
    // Both senders are gone now, so the receiver sees the end of the stream.
    let received = park_on(receiver).unwrap();
    (received, common::notified_per_worker(&runtime))
}

fn check(received: &Received) {
    assert_eq!(received.worker, Some(1));
    assert_eq!(
        received.per_sender,
        [PER_SENDER, PER_SENDER],
        "messages lost or duplicated"
    );
    assert!(
        received.max_queued <= CAPACITY,
        "the queue held {} > {CAPACITY}",
        received.max_queued
    );
}

#[test]
fn messages_over_msg_ring_arrive_exactly_once_and_in_order() {
    if common::skip::io_uring_only("messages_over_msg_ring_arrive_exactly_once_and_in_order") {
        return;
    }
    let (received, counts) = within(LIMIT, || send_200k_messages_to_worker_1(true));
    check(&received);
    // Worker 0's sends woke worker 1 ring to ring at least sometimes.
    assert!(counts[1].0 > 0, "no MSG_RING wake on worker 1: {counts:?}");
}

#[test]
fn messages_over_eventfd_arrive_exactly_once_and_in_order() {
    let (received, counts) = within(LIMIT, || send_200k_messages_to_worker_1(false));
    check(&received);
    assert!(counts.iter().all(|c| c.0 == 0), "{counts:?}");
}

#[test]
fn back_pressure_holds_a_sender_until_the_receiver_makes_room() {
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let (tx, mut rx) = mpsc::channel::<u32>(CAPACITY);
        let sender = runtime.handles()[0].spawn(async move {
            for n in 0..CAPACITY as u32 {
                tx.send(n).await.unwrap();
            }
            // Full now: one more cannot go in without waiting.
            assert!(tx.try_send(999).is_err(), "a full channel took a value");
            tx.send(CAPACITY as u32).await.unwrap();
        });
        // Let the sender fill the channel and block on the last send.
        std::thread::sleep(Duration::from_millis(50));
        let receiver = runtime.handles()[1].spawn(async move {
            assert_eq!(rx.len(), CAPACITY, "the sender went past the capacity");
            let mut all = Vec::new();
            while let Some(n) = rx.recv().await {
                all.push(n);
            }
            all
        });
        park_on(sender).unwrap();
        let all = park_on(receiver).unwrap();
        assert_eq!(all, (0..=CAPACITY as u32).collect::<Vec<_>>());
    });
}

/// Waits for `future` on this plain thread (no ring): park until woken.
fn park_on<F: std::future::Future>(future: F) -> F::Output {
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
