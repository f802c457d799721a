//! The runtime's wake-up poll (how other threads rouse a ring asleep in the kernel) is armed
//! multishot and falls back to single-shot polls only when the kernel refuses multishot (Linux
//! before 5.13; see `a_kernel_refusing_multishot_poll_neither_spins_nor_loses_wake_ups.rs`).
//! On a kernel that takes it, wake-ups from other threads must not switch it to single-shot
//! nor cost a re-arm each.

mod common;

use common::within;
use coring::sync::oneshot;
use coring::time::{sleep, timeout};
use coring::{Backend, Runtime};
use std::time::Duration;

#[test]
fn the_wake_poll_stays_multishot_on_a_kernel_that_takes_it() {
    within(Duration::from_secs(60), || {
        let runtime = Runtime::new().unwrap();
        runtime.block_on(async {
            sleep(Duration::from_millis(10)).await;
            let before = runtime.metrics();
            for round in 0..5u32 {
                let (tx, rx) = oneshot::channel();
                let thread = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    tx.send(round).unwrap();
                });
                let got = timeout(Duration::from_secs(10), rx).await;
                assert_eq!(got.map(Result::unwrap).ok(), Some(round), "round {round}");
                thread.join().unwrap();
            }
            let after = runtime.metrics();
            if after.backend != Backend::IoUring {
                assert!(!after.wake_poll_multishot, "no poll on epoll: {after:#?}");
                return;
            }
            assert!(after.wake_poll_multishot, "{after:#?}");
            assert!(after.notified_by_eventfd >= 5, "{after:#?}");
            // The kernel may end a multishot poll at any time, but not at every wake-up.
            let rearms = after.multishot_rearms - before.multishot_rearms;
            assert!(rearms <= 1, "{rearms} re-arms for 5 wake-ups: {after:#?}");
        });
    });
}
