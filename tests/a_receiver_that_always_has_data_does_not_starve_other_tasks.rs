//! A task that receives from a channel that always has data (here it refills it itself) is
//! always ready; the cooperative budget makes it yield, so a 20 ms sleep in another task fires.

mod common;

use common::within;
use coring::sync::mpsc;
use coring::time::{sleep, Instant};
use std::time::Duration;

#[test]
fn a_sleep_fires_beside_a_task_receiving_from_a_channel_that_is_never_empty() {
    let took = within(Duration::from_secs(20), || {
        coring::block_on(async {
            coring::spawn(async {
                let (tx, mut rx) = mpsc::unbounded_channel();
                tx.send(0u64).unwrap();
                while let Some(n) = rx.recv().await {
                    tx.send(n + 1).unwrap();
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
