//! A user's waker is user code, and its `Drop` may drop other futures, a queued
//! `FixedBufPool::take` among them. The pool's waiter queue holds wakers: when it lets one go (a
//! `take` polled with another waker replaces it, a dropped `take` leaves the queue) that waker's
//! `Drop` must run after the queue's borrow. Before the fix the queue was still borrowed: the
//! `take` dropped from the waker's `Drop` panicked ("already borrowed") and left its entry in the
//! queue, where the next returned buffer went to it, nobody's, and was lost to the pool.

mod common;

use common::Watchdog;
use coring::buf::{FixedBuf, FixedBufPool};
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

type Take = Pin<Box<dyn Future<Output = FixedBuf>>>;

thread_local! {
    /// The queued `take` the waker below drops.
    static PARKED: RefCell<Option<Take>> = const { RefCell::new(None) };
}

/// A waker whose `Drop` drops the parked `take`.
struct DropsTheParkedTake;

impl Wake for DropsTheParkedTake {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropsTheParkedTake {
    fn drop(&mut self) {
        let parked = PARKED.with(|p| p.borrow_mut().take());
        drop(parked);
    }
}

fn take(pool: &FixedBufPool) -> Take {
    let pool = pool.clone();
    Box::pin(async move { pool.take().await })
}

/// Queues a parked `take`, then a `take` polled with the dropping waker (which only the queue
/// holds from then on); returns the second.
fn queue_two(pool: &FixedBufPool) -> Take {
    let mut noop = Context::from_waker(Waker::noop());
    let mut parked = take(pool);
    assert!(parked.as_mut().poll(&mut noop).is_pending());
    PARKED.with(|p| *p.borrow_mut() = Some(parked));
    let mut holder = take(pool);
    let dropping = Waker::from(Arc::new(DropsTheParkedTake));
    assert!(holder
        .as_mut()
        .poll(&mut Context::from_waker(&dropping))
        .is_pending());
    holder
}

#[test]
fn a_fixed_buffer_take_dropped_by_a_wakers_drop_leaves_the_queue() {
    let _watchdog = Watchdog::new(
        20,
        "a_fixed_buffer_take_dropped_by_a_wakers_drop_leaves_the_queue",
    );
    coring::block_on(async {
        let pool = FixedBufPool::new(1, 64).unwrap();
        let mut noop = Context::from_waker(Waker::noop());

        // The queue replaces the dropping waker: the `take` is polled with another.
        let held = pool.try_take().unwrap();
        let mut holder = queue_two(&pool);
        let swap = catch_unwind(AssertUnwindSafe(|| holder.as_mut().poll(&mut noop)));
        println!("replacing the waker panicked: {}", swap.is_err());
        assert!(swap.is_ok(), "replacing a waker panicked");
        assert!(
            PARKED.with(|p| p.borrow().is_none()),
            "the take was dropped"
        );
        drop(held);
        let Poll::Ready(held) = holder.as_mut().poll(&mut noop) else {
            panic!("the returned buffer went to a dropped take")
        };

        // The queue removes the dropping waker: the `take` holding it is dropped.
        let holder = queue_two(&pool);
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(holder)));
        println!("dropping the take panicked: {}", dropped.is_err());
        assert!(dropped.is_ok(), "dropping a take panicked");
        assert!(
            PARKED.with(|p| p.borrow().is_none()),
            "the take was dropped"
        );
        drop(held);
        assert_eq!(pool.available(), 1, "the returned buffer is free again");
    });
}
