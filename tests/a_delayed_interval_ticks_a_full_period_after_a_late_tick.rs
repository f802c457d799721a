//! `MissedTickBehavior::Delay`: after a tick that came late, even by less than a period, the
//! next tick is a full period after the late one (the schedule shifts), as on tokio.

mod common;

use common::Watchdog;
use coring::time::{interval, Instant, MissedTickBehavior};
use std::time::Duration;

#[test]
fn a_tick_forty_ms_late_moves_the_next_tick_a_full_period_on() {
    let _watchdog = Watchdog::new(
        20,
        "a_tick_forty_ms_late_moves_the_next_tick_a_full_period_on",
    );
    let period = Duration::from_millis(100);
    coring::block_on(async {
        let mut every = interval(period);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let start = every.tick().await;
        // Busy past the second tick (due at 100 ms) by 60 ms: late by less than a period.
        std::thread::sleep(Duration::from_millis(160));
        let late = every.tick().await;
        assert_eq!(
            late,
            start + period,
            "the late tick keeps its scheduled instant"
        );
        let after_late = Instant::now();
        let next = every.tick().await;
        let gap = after_late.elapsed();
        eprintln!("the tick after the late one came {gap:?} later (period {period:?})");
        assert!(
            next >= after_late + period - Duration::from_millis(1),
            "the next tick is scheduled a full period after the late tick"
        );
        assert!(
            gap >= period - Duration::from_millis(10),
            "came after {gap:?}"
        );
    });
}
