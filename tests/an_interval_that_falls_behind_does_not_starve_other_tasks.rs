//! A task whose awaits are always ready must still give way: the default (`Burst`) interval with
//! more work per tick than its period is ready at every `tick()`, forever. The runtime's
//! cooperative budget makes such a task yield after a bounded number of ready results, so a
//! 20 ms sleep in another task (or in the `block_on` future) still fires, as on tokio.

mod common;

use common::within;
use coring::time::{interval, sleep, Instant};
use std::time::Duration;

/// A task that ticks a 100 µs interval and works 150 µs per tick: always behind, always ready.
async fn fall_behind_forever() {
    let mut every = interval(Duration::from_micros(100));
    loop {
        every.tick().await;
        let work = Instant::now();
        while work.elapsed() < Duration::from_micros(150) {
            std::hint::spin_loop();
        }
    }
}

#[test]
fn a_sleep_in_another_task_fires_beside_an_interval_that_falls_behind() {
    let took = within(Duration::from_secs(20), || {
        coring::block_on(async {
            coring::spawn(fall_behind_forever());
            coring::spawn(async {
                let start = Instant::now();
                sleep(Duration::from_millis(20)).await;
                start.elapsed()
            })
            .await
            .unwrap()
        })
    });
    eprintln!("the 20 ms sleep fired after {took:?}");
    assert!(took >= Duration::from_millis(20));
}

#[test]
fn the_block_on_future_ticking_behind_lets_spawned_tasks_run() {
    let ran = within(Duration::from_secs(20), || {
        coring::block_on(async {
            let other = coring::spawn(async { 7 });
            let mut every = interval(Duration::from_micros(100));
            // Always ready; the spawned task must still get to run before this ends.
            while !other.is_finished() {
                every.tick().await;
                let work = Instant::now();
                while work.elapsed() < Duration::from_micros(150) {
                    std::hint::spin_loop();
                }
            }
            other.await.unwrap()
        })
    });
    assert_eq!(ran, 7);
}
