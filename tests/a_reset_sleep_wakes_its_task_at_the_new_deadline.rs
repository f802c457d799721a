//! `Sleep::reset` keeps the sleep registered: a task that polled a sleep (or whose sleep just
//! fired) and then resets it is woken at the new deadline without polling the sleep again, as on
//! tokio. A heartbeat that resets its sleep keeps beating.

mod common;

use common::Watchdog;
use coring::time::{sleep, Instant, Sleep};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `sleep` once with a waker that counts its wakes.
fn poll_counting(sleep: &mut Sleep, wakes: &Arc<CountWakes>) -> Poll<()> {
    let waker = Waker::from(wakes.clone());
    Pin::new(sleep).poll(&mut Context::from_waker(&waker))
}

/// Waits (letting the runtime fire timers) until `wakes` counts one, or `limit` passes.
async fn woken_within(wakes: &CountWakes, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if wakes.0.load(Ordering::SeqCst) > 0 {
            return true;
        }
        sleep(Duration::from_millis(1)).await;
    }
    wakes.0.load(Ordering::SeqCst) > 0
}

#[test]
fn a_polled_sleep_reset_earlier_wakes_at_the_new_deadline() {
    let _watchdog = Watchdog::new(20, "a_polled_sleep_reset_earlier_wakes_at_the_new_deadline");
    coring::block_on(async {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let mut far = sleep(Duration::from_secs(3600));
        assert!(poll_counting(&mut far, &wakes).is_pending());
        let start = Instant::now();
        far.reset(start + Duration::from_millis(20));
        assert!(
            woken_within(&wakes, Duration::from_secs(5)).await,
            "the task was never woken at the new deadline"
        );
        assert!(start.elapsed() >= Duration::from_millis(20), "woken early");
        assert!(poll_counting(&mut far, &wakes).is_ready());
    });
}

#[test]
fn a_fired_sleep_reset_and_polled_again_wakes_at_the_new_deadline() {
    let _watchdog = Watchdog::new(20, "a_fired_sleep_reset_and_polled_again");
    coring::block_on(async {
        let mut beat = Box::pin(sleep(Duration::from_millis(5)));
        let mut beats = 0;
        let start = Instant::now();
        // A heartbeat: each time it fires, reset it for the next beat.
        while beats < 3 {
            poll_fn(|cx| beat.as_mut().poll(cx)).await;
            beats += 1;
            let next = Instant::now() + Duration::from_millis(5);
            beat.as_mut().get_mut().reset(next);
        }
        assert!(start.elapsed() >= Duration::from_millis(15));
    });
}

#[test]
fn a_heartbeat_reset_from_another_branch_keeps_its_waker() {
    let _watchdog = Watchdog::new(60, "a_heartbeat_reset_from_another_branch_keeps_its_waker");
    coring::block_on(async {
        // The scenario needs each reset to come before the deadline it pushes back (a sleep
        // that already fired has rightly woken its task). A loaded machine can hold the thread
        // back past it: then the round proves nothing and runs again with longer times.
        for round in 0..8u32 {
            let scale = 1 << round;
            let (idle_for, beat) = (
                Duration::from_millis(30) * scale,
                Duration::from_millis(10) * scale,
            );
            let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
            let mut idle = sleep(idle_for);
            assert!(poll_counting(&mut idle, &wakes).is_pending());
            // Activity pushes the idle deadline back twice, without polling the sleep again.
            let mut in_time = true;
            for _ in 0..2 {
                sleep(beat).await;
                let now = Instant::now();
                in_time &= now < idle.deadline();
                idle.reset(now + idle_for);
            }
            if !in_time {
                eprintln!("round {round}: a reset came after the deadline it pushes back");
                continue;
            }
            let pushed_to = idle.deadline();
            assert!(
                woken_within(&wakes, Duration::from_secs(5)).await,
                "the reset sleep never woke its task"
            );
            assert!(
                Instant::now() >= pushed_to,
                "woken before the pushed-back deadline"
            );
            return;
        }
        panic!("no round got its resets in before the deadlines (the machine is too slow)");
    });
}
