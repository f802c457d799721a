//! Two hundred sleeps with random deadlines 0–50 ms apart wake in deadline order (equal
//! deadlines in either order) and none wakes before its deadline, nor more than [`LATE`] after
//! it beyond the time the runtime's thread spent waiting for a core (a loaded machine delays
//! every wake by that much, and no runtime can help it).

mod common;

use common::{thread_run_delay, Watchdog, Xorshift};
use coring::time::{sleep, sleep_until, Instant};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const SLEEPS: usize = 200;
/// Deadlines start this far after the tasks are spawned, so every sleep goes through the timer
/// store (none is already due at its first poll, whatever the scheduling order).
const HEAD_START: Duration = Duration::from_millis(20);
/// How late a wake may be, besides the thread's wait for a core, before we call it a bug.
const LATE: Duration = Duration::from_millis(40);

#[test]
fn random_sleeps_wake_in_deadline_order_and_never_early() {
    let _watchdog = Watchdog::new(20, "random_sleeps_wake_in_deadline_order_and_never_early");
    let mut rng = Xorshift::from_env_or_clock("SLEEP_ORDER_SEED");
    let runtime = coring::Runtime::new().unwrap();
    let woke: Rc<RefCell<Vec<(usize, Instant, Instant)>>> = Rc::default();
    let delay = thread_run_delay();
    runtime.block_on(async {
        let start = Instant::now() + HEAD_START;
        let handles: Vec<_> = (0..SLEEPS)
            .map(|i| {
                let deadline = start + Duration::from_micros(rng.below(50_001));
                let woke = woke.clone();
                coring::spawn(async move {
                    sleep_until(deadline).await;
                    woke.borrow_mut().push((i, deadline, Instant::now()));
                })
            })
            .collect();
        for result in coring::task::join_all(handles).await {
            result.unwrap();
        }
    });
    let woke = woke.borrow();
    assert_eq!(woke.len(), SLEEPS);
    let mut max_late = Duration::ZERO;
    for &(i, deadline, at) in woke.iter() {
        assert!(
            at >= deadline,
            "sleep {i} woke {:?} before its deadline",
            deadline - at
        );
        max_late = max_late.max(at - deadline);
    }
    for pair in woke.windows(2) {
        let ((a, a_deadline, _), (b, b_deadline, _)) = (pair[0], pair[1]);
        assert!(
            a_deadline <= b_deadline,
            "sleep {a} (deadline +{:?}) woke before sleep {b} (deadline +{:?})",
            a_deadline.duration_since(woke[0].1),
            b_deadline.duration_since(woke[0].1)
        );
    }
    let delay = thread_run_delay() - delay;
    eprintln!("latest wake: {max_late:?} after its deadline; {delay:?} waiting for a core");
    assert!(
        max_late < LATE + delay,
        "a sleep woke {max_late:?} late ({delay:?} of it waiting for a core)"
    );
    assert_eq!(runtime.metrics().pending_timers, 0);
}

#[test]
fn relative_sleeps_in_one_join_all_never_wake_early() {
    let _watchdog = Watchdog::new(20, "relative_sleeps_in_one_join_all_never_wake_early");
    let mut rng = Xorshift::from_env_or_clock("SLEEP_ORDER_SEED");
    let durations: Vec<u64> = (0..SLEEPS).map(|_| rng.below(50_001)).collect();
    let runtime = coring::Runtime::new().unwrap();
    let delay = thread_run_delay();
    let late = runtime.block_on(async {
        let sleeps = durations.iter().map(|&micros| async move {
            let created = Instant::now();
            let nap = sleep(Duration::from_micros(micros));
            let deadline = nap.deadline();
            assert!(deadline >= created + Duration::from_micros(micros));
            nap.await;
            let now = Instant::now();
            assert!(now >= deadline, "woke {:?} early", deadline - now);
            now - deadline
        });
        coring::task::join_all(sleeps).await
    });
    let max_late = late.into_iter().max().unwrap();
    let delay = thread_run_delay() - delay;
    eprintln!("latest wake: {max_late:?} after its deadline; {delay:?} waiting for a core");
    assert!(
        max_late < LATE + delay,
        "a sleep woke {max_late:?} late ({delay:?} of it waiting for a core)"
    );
    assert_eq!(runtime.metrics().pending_timers, 0);
}

#[test]
fn a_zero_sleep_and_a_past_deadline_complete_at_once() {
    let _watchdog = Watchdog::new(10, "a_zero_sleep_and_a_past_deadline_complete_at_once");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let (start, delay) = (Instant::now(), thread_run_delay());
        sleep(Duration::ZERO).await;
        sleep_until(start - Duration::from_millis(1)).await;
        let delay = thread_run_delay() - delay;
        assert!(start.elapsed() < Duration::from_millis(20) + delay);
    });
    assert_eq!(runtime.metrics().pending_timers, 0);
}
