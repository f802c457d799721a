//! `FixedBufPool::take` waits for a buffer when none is free. A waiter that gives up (its future
//! dropped, say by a timeout) must not take the next waiter's wake-up with it: before the fix, a
//! returned buffer woke the dropped waiter's stale waker and the live waiter slept forever with
//! a buffer free (found by the zero-copy tests of issue 5).

mod common;

use common::{poll_once, Watchdog};
use coring::buf::FixedBufPool;
use coring::time::timeout;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(2);

#[test]
fn a_waiter_dropped_while_queued_does_not_swallow_the_next_wake_up() {
    let _watchdog = Watchdog::new(20, "a_waiter_dropped_while_queued");
    coring::block_on(async {
        let pool = FixedBufPool::new(1, 4096).expect("register one buffer");
        let held = pool.try_take().expect("the one buffer");

        // A waits, then gives up while still queued.
        let mut gave_up = Box::pin(pool.take());
        assert!(
            poll_once(gave_up.as_mut()).await.is_none(),
            "no buffer free"
        );
        drop(gave_up);

        // B waits behind where A was.
        let served = Rc::new(Cell::new(false));
        let waiter = coring::spawn({
            let (pool, served) = (pool.clone(), served.clone());
            async move {
                let buf = pool.take().await;
                served.set(true);
                buf.buf_index()
            }
        });
        coring::task::yield_now().await; // B is queued now
        drop(held);

        let index = timeout(PATIENCE, waiter)
            .await
            .expect("the live waiter was never woken although a buffer was free")
            .expect("waiter task");
        assert!(served.get());
        assert_eq!(index, 0);
        assert_eq!(
            pool.available(),
            1,
            "the buffer came back when B dropped it"
        );
    });
}

#[test]
fn a_waiter_dropped_after_its_wake_up_passes_its_turn_on() {
    let _watchdog = Watchdog::new(20, "a_waiter_dropped_after_its_wake_up");
    coring::block_on(async {
        let pool = FixedBufPool::new(1, 4096).expect("register one buffer");
        let held = pool.try_take().expect("the one buffer");

        // A queues first (this task), then B (another task).
        let mut first = Box::pin(pool.take());
        assert!(poll_once(first.as_mut()).await.is_none(), "no buffer free");
        let waiter = coring::spawn({
            let pool = pool.clone();
            async move { pool.take().await.buf_index() }
        });
        coring::task::yield_now().await;

        // The returned buffer wakes A; A is dropped before it polls again.
        drop(held);
        drop(first);

        let index = timeout(PATIENCE, waiter)
            .await
            .expect("A's turn was not passed on: B sleeps with a buffer free")
            .expect("waiter task");
        assert_eq!(index, 0);
    });
}

#[test]
fn many_waiters_with_some_giving_up_all_get_served() {
    let _watchdog = Watchdog::new(30, "many_waiters_with_some_giving_up");
    coring::block_on(async {
        let pool = FixedBufPool::new(2, 4096).expect("register two buffers");
        let served = Rc::new(Cell::new(0usize));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (pool, served) = (pool.clone(), served.clone());
            tasks.push(coring::spawn(async move {
                // Every third waiter gives up quickly; the others hold their buffer a moment.
                let patience = if i % 3 == 0 {
                    Duration::from_micros(200)
                } else {
                    Duration::from_secs(10)
                };
                if let Ok(buf) = timeout(patience, pool.take()).await {
                    served.set(served.get() + 1);
                    coring::time::sleep(Duration::from_micros(100)).await;
                    drop(buf);
                }
            }));
        }
        for task in tasks {
            timeout(Duration::from_secs(15), task)
                .await
                .expect("a waiter hung")
                .expect("task");
        }
        assert!(served.get() >= 133, "only {} served", served.get());
        assert_eq!(pool.available(), 2);
    });
}
