//! A request/reply loop whose replies are ready when awaited (here the task answers itself) never
//! waits: the cooperative budget must count oneshot receives as it counts `mpsc` ones, or a 20 ms
//! sleep in another task never fires (tokio's oneshot spends its budget too).

mod common;

use common::within;
use coring::sync::oneshot;
use coring::time::{sleep, Instant};
use std::time::Duration;

#[test]
fn a_sleep_fires_beside_a_task_awaiting_oneshot_replies_that_are_always_ready() {
    let took = within(Duration::from_secs(20), || {
        coring::block_on(async {
            coring::spawn(async {
                let mut n = 0u64;
                loop {
                    let (tx, rx) = oneshot::channel();
                    tx.send(n + 1).unwrap();
                    n = rx.await.unwrap();
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
