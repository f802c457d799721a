//! A producer whose bounded `send`s always find a free slot (its consumer keeps up: here the task
//! drains the channel itself with `try_recv`) never waits. Its sends must spend the cooperative
//! budget, as receives do (tokio's bounded send does), or a 20 ms sleep in another task never
//! fires.

mod common;

use common::within;
use coring::sync::mpsc;
use coring::time::{sleep, Instant};
use std::time::Duration;

#[test]
fn a_sleep_fires_beside_a_task_whose_bounded_sends_never_wait() {
    let took = within(Duration::from_secs(20), || {
        coring::block_on(async {
            coring::spawn(async {
                let (tx, mut rx) = mpsc::channel(8);
                let mut n = 0u64;
                loop {
                    tx.send(n).await.unwrap();
                    n = rx.try_recv().unwrap() + 1;
                }
            });
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
