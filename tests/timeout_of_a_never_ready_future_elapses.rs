//! `timeout` around a future that is never ready gives `Elapsed` at the deadline (not before,
//! not much after); around a ready future it gives the output at once. Either way its timer is
//! gone afterwards.

mod common;

use common::Watchdog;
use coring::time::{error::Elapsed, sleep, timeout, Instant};
use std::time::Duration;

const LIMIT: Duration = Duration::from_millis(50);
/// "Not much later": the ring's timed wait should end within a few milliseconds of the deadline.
const SLACK: Duration = Duration::from_millis(50);

#[test]
fn a_pending_future_times_out_after_about_fifty_ms() {
    let _watchdog = Watchdog::new(10, "a_pending_future_times_out_after_about_fifty_ms");
    let runtime = coring::Runtime::new().unwrap();
    let (result, took) = runtime.block_on(async {
        let start = Instant::now();
        let result = timeout(LIMIT, std::future::pending::<()>()).await;
        (result, start.elapsed())
    });
    let result: Result<(), Elapsed> = result;
    let err = result.expect_err("a never-ready future cannot finish");
    assert_eq!(err.to_string(), "deadline has elapsed");
    eprintln!("timed out after {took:?}");
    assert!(took >= LIMIT, "timed out early, after {took:?}");
    assert!(took < LIMIT + SLACK, "timed out late, after {took:?}");
    assert_eq!(runtime.metrics().pending_timers, 0);
}

#[test]
fn a_pending_future_in_a_spawned_task_times_out() {
    let _watchdog = Watchdog::new(10, "a_pending_future_in_a_spawned_task_times_out");
    let runtime = coring::Runtime::new().unwrap();
    let took = runtime.block_on(async {
        coring::spawn(async {
            let start = Instant::now();
            let result = timeout(LIMIT, std::future::pending::<u32>()).await;
            assert!(result.is_err(), "{result:?}");
            start.elapsed()
        })
        .await
        .unwrap()
    });
    assert!(took >= LIMIT && took < LIMIT + SLACK, "{took:?}");
    assert_eq!(runtime.metrics().pending_timers, 0);
}

#[test]
fn a_ready_future_returns_its_output_at_once() {
    let _watchdog = Watchdog::new(10, "a_ready_future_returns_its_output_at_once");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let start = Instant::now();
        assert_eq!(timeout(LIMIT, std::future::ready(7)).await, Ok(7));
        assert_eq!(timeout(LIMIT, async { 8 }).await, Ok(8));
        assert!(start.elapsed() < LIMIT, "{:?}", start.elapsed());
    });
    assert_eq!(runtime.metrics().pending_timers, 0);
}

#[test]
fn a_future_that_finishes_before_the_deadline_wins_and_leaves_no_timer() {
    let _watchdog = Watchdog::new(
        10,
        "a_future_that_finishes_before_the_deadline_wins_and_leaves_no_timer",
    );
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let start = Instant::now();
        let result = timeout(Duration::from_secs(5), async {
            sleep(Duration::from_millis(10)).await;
            "done"
        })
        .await;
        assert_eq!(result, Ok("done"));
        assert!(start.elapsed() < Duration::from_millis(500));
        // The 5-second timer went with the timeout future.
        assert_eq!(runtime.metrics().pending_timers, 0);
    });
}

#[test]
fn a_zero_timeout_still_polls_a_ready_future_first() {
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        assert_eq!(timeout(Duration::ZERO, std::future::ready(1)).await, Ok(1));
        assert!(timeout(Duration::ZERO, std::future::pending::<()>())
            .await
            .is_err());
    });
}
