//! `time::timeout(d, f)` fixes its deadline at `now + d` when it is called, not at its first
//! poll (as on tokio): a timeout created, then first polled after `d` has passed, has elapsed.

mod common;

use common::Watchdog;
use coring::time::{sleep, timeout};
use std::future::{pending, poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

#[test]
fn a_timeout_first_polled_after_its_duration_has_already_elapsed() {
    let _watchdog = Watchdog::new(20, "a_timeout_first_polled_after_its_duration");
    coring::block_on(async {
        let mut limited = pin!(timeout(Duration::from_millis(30), pending::<()>()));
        sleep(Duration::from_millis(60)).await;
        let first = poll_fn(|cx| Poll::Ready(limited.as_mut().poll(cx))).await;
        assert!(
            matches!(first, Poll::Ready(Err(_))),
            "created 60 ms ago with 30 ms to run, yet its first poll gave {first:?}"
        );
    });
}
