//! Dropping a runtime drops the wakers its timer store still holds, and a waker's `Drop` is
//! user code that may panic. As for the driver's wakers at shutdown, such a panic must not escape
//! the runtime's drop (at a worker's end, or while unwinding, it would take the thread or the
//! process down). Before the fix the timer store's wakers were dropped with no guard and under
//! the store's borrow: `drop(runtime)` panicked.

mod common;

use common::Watchdog;
use coring::time::sleep;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

/// A waker whose `Drop` panics.
struct PanicsWhenDropped;

impl Wake for PanicsWhenDropped {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("a waker's Drop panics (on purpose)");
    }
}

#[test]
fn a_timer_wakers_panicking_drop_does_not_escape_the_runtimes_drop() {
    let _watchdog = Watchdog::new(
        20,
        "a_timer_wakers_panicking_drop_does_not_escape_the_runtimes_drop",
    );
    let runtime = coring::Runtime::new().unwrap();
    // A sleep registered with the panicking waker (which only the store holds), left pending
    // and kept outside the runtime: its entry is still in the store when the runtime goes.
    // The sleep is the point: it leaves the runtime un-awaited.
    #[allow(clippy::async_yields_async)]
    let pending_sleep = runtime.block_on(async {
        let waker = Waker::from(Arc::new(PanicsWhenDropped));
        let mut pending_sleep = Box::pin(sleep(Duration::from_secs(3600)));
        assert!(pending_sleep
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(waker);
        pending_sleep
    });
    assert_eq!(runtime.metrics().pending_timers, 1);
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(runtime)));
    println!("dropping the runtime panicked: {}", dropped.is_err());
    assert!(
        dropped.is_ok(),
        "a timer waker's panic escaped the runtime's drop"
    );
    drop(pending_sleep);
}
