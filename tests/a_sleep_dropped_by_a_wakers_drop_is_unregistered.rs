//! A user's waker is user code, and its `Drop` may drop other futures, a `Sleep` among them. The
//! timer store holds wakers: when it lets one go (a sleep polled with another waker replaces
//! it, a dropped sleep removes its entry) that waker's `Drop` must run after the store's borrow,
//! or a `Sleep` it drops cannot unregister. Before the fix the store was still borrowed, the
//! dropped sleep's `unregister` silently gave up, and its entry stayed behind: it kept its waker
//! (and whatever that waker owns) alive until the deadline, and woke it then, although the sleep
//! was long gone.

mod common;

use common::Watchdog;
use coring::time::{sleep, Sleep};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

thread_local! {
    /// The registered sleep the waker below drops.
    static PARKED: RefCell<Option<Pin<Box<Sleep>>>> = const { RefCell::new(None) };
}

/// A waker whose `Drop` drops the parked sleep.
struct DropsTheParkedSleep;

impl Wake for DropsTheParkedSleep {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropsTheParkedSleep {
    fn drop(&mut self) {
        let parked = PARKED.with(|p| p.borrow_mut().take());
        drop(parked);
    }
}

/// Counts its wake-ups.
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Parks a registered 50 ms sleep whose waker is `counter`'s.
fn park_a_sleep(counter: &Arc<Counting>) {
    let waker = Waker::from(counter.clone());
    let mut parked = Box::pin(sleep(Duration::from_millis(50)));
    assert!(parked
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    PARKED.with(|p| *p.borrow_mut() = Some(parked));
}

/// A long sleep registered with the dropping waker (and only there).
fn sleep_holding_the_dropping_waker() -> Pin<Box<Sleep>> {
    let dropping = Waker::from(Arc::new(DropsTheParkedSleep));
    let mut holder = Box::pin(sleep(Duration::from_secs(3600)));
    assert!(holder
        .as_mut()
        .poll(&mut Context::from_waker(&dropping))
        .is_pending());
    holder
}

#[test]
fn a_sleep_dropped_by_a_wakers_drop_is_unregistered() {
    let _watchdog = Watchdog::new(20, "a_sleep_dropped_by_a_wakers_drop_is_unregistered");
    coring::block_on(async {
        // The store replaces the dropping waker: a poll with another waker.
        let replaced = Arc::new(Counting(AtomicUsize::new(0)));
        park_a_sleep(&replaced);
        let mut holder = sleep_holding_the_dropping_waker();
        assert!(holder
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
        assert!(
            PARKED.with(|p| p.borrow().is_none()),
            "the sleep was dropped"
        );
        let replaced_refs = Arc::strong_count(&replaced);

        // The store removes the dropping waker: the sleep holding it is dropped.
        let removed = Arc::new(Counting(AtomicUsize::new(0)));
        park_a_sleep(&removed);
        drop(sleep_holding_the_dropping_waker());
        assert!(
            PARKED.with(|p| p.borrow().is_none()),
            "the sleep was dropped"
        );
        let removed_refs = Arc::strong_count(&removed);

        // Past both deadlines: a sleep left registered wakes its waker now.
        sleep(Duration::from_millis(300)).await;
        let wakes = (
            replaced.0.load(Ordering::SeqCst),
            removed.0.load(Ordering::SeqCst),
        );
        println!(
            "references (replaced, removed): ({replaced_refs}, {removed_refs}); wakes: {wakes:?}"
        );
        assert_eq!(
            (replaced_refs, removed_refs),
            (1, 1),
            "a dropped sleep's waker is still held by the timer store"
        );
        assert_eq!(wakes, (0, 0), "a dropped sleep still woke its waker");
        drop(holder);
    });
}
