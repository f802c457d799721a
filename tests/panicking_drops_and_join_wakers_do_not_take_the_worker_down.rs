//! The promise: a panicking `Drop` (or a user's waker that panics) inside a task's machinery does
//! not take the worker down. Two paths used to escape `block_on`: dropping a task's output after
//! the future's own `Drop` had panicked, and a joiner's waker whose `wake` panics, called when
//! the task finished.

mod common;

use common::Watchdog;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Panics when dropped.
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// Ready at once with an output that panics when dropped; its own `Drop` panics too.
struct BothPanic(Option<PanicsOnDrop>);

impl Future for BothPanic {
    type Output = PanicsOnDrop;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<PanicsOnDrop> {
        Poll::Ready(self.0.take().expect("polled once"))
    }
}

impl Drop for BothPanic {
    fn drop(&mut self) {
        panic!("the future's own Drop panics");
    }
}

#[test]
fn an_output_dropped_after_its_future_panicked_in_drop_does_not_escape_block_on() {
    let _watchdog = Watchdog::new(
        10,
        "an_output_dropped_after_its_future_panicked_in_drop_does_not_escape_block_on",
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        coring::block_on(async {
            let handle = coring::spawn(BothPanic(Some(PanicsOnDrop("the output's Drop panics"))));
            let err = handle.await.err().expect("a panicking Drop is a JoinError");
            assert!(err.is_panic(), "{err:?}");
            // The worker goes on.
            coring::spawn(async { 7 }).await.unwrap()
        })
    }));
    assert_eq!(
        outcome.ok(),
        Some(7),
        "a panic escaped block_on from the task's machinery"
    );
}

/// A user's waker whose `wake` panics.
struct PanicsOnWake;

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        panic!("a user's waker panics in wake");
    }
}

#[test]
fn a_joiner_waker_that_panics_in_wake_does_not_escape_block_on() {
    let _watchdog = Watchdog::new(
        10,
        "a_joiner_waker_that_panics_in_wake_does_not_escape_block_on",
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        coring::block_on(async {
            let mut handle = coring::spawn(async { 42 });
            // Join once through the panicking waker, before the task ran: the task stores the
            // waker and wakes it when it finishes, which it does while we yield.
            let waker = Waker::from(Arc::new(PanicsOnWake));
            let first = Pin::new(&mut handle).poll(&mut Context::from_waker(&waker));
            assert!(first.is_pending());
            drop(waker);
            coring::task::yield_now().await;
            assert!(handle.is_finished());
            poll_fn(|cx| Pin::new(&mut handle).poll(cx)).await.unwrap()
        })
    }));
    assert_eq!(
        outcome.ok(),
        Some(42),
        "the joiner's panicking wake escaped block_on"
    );
}
