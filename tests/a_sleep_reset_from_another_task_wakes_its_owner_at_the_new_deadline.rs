//! A sleep awaited by one task and reset by another (a shared deadline, as a watchdog does) wakes
//! its owner at the new deadline: at once when reset into the past, not before it when reset
//! later, and the owner need not poll in between.

mod common;

use common::within;
use coring::time::{sleep, Instant, Sleep};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// Spawns a task awaiting `shared` and returns when it completed.
fn owner(shared: &Rc<RefCell<Pin<Box<Sleep>>>>) -> coring::task::JoinHandle<Instant> {
    let shared = shared.clone();
    coring::spawn(async move {
        poll_fn(|cx| shared.borrow_mut().as_mut().poll(cx)).await;
        Instant::now()
    })
}

#[test]
fn a_sleep_reset_into_the_past_by_another_task_wakes_its_owner_at_once() {
    let waited = within(Duration::from_secs(20), || {
        coring::block_on(async {
            let shared = Rc::new(RefCell::new(Box::pin(sleep(Duration::from_secs(3600)))));
            let done = owner(&shared);
            // Let the owner register its hour-long sleep.
            sleep(Duration::from_millis(5)).await;
            let reset_at = Instant::now();
            shared
                .borrow_mut()
                .as_mut()
                .reset(reset_at - Duration::from_millis(1));
            done.await.unwrap() - reset_at
        })
    });
    eprintln!("woken {waited:?} after the reset");
    assert!(waited < Duration::from_secs(5), "woken {waited:?} after");
}

#[test]
fn a_sleep_reset_later_by_another_task_does_not_wake_its_owner_before_the_new_deadline() {
    let (completed, deadline) = within(Duration::from_secs(20), || {
        coring::block_on(async {
            let shared = Rc::new(RefCell::new(Box::pin(sleep(Duration::from_millis(10)))));
            let done = owner(&shared);
            sleep(Duration::from_millis(2)).await;
            let deadline = Instant::now() + Duration::from_millis(60);
            shared.borrow_mut().as_mut().reset(deadline);
            (done.await.unwrap(), deadline)
        })
    });
    assert!(completed >= deadline, "completed before its new deadline");
    assert!(
        completed - deadline < Duration::from_secs(5),
        "woken far too late"
    );
}
