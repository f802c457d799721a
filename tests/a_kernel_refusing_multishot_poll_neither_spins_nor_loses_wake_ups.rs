//! On Linux 5.11 and 5.12 the kernel refuses a multishot poll (`IORING_POLL_ADD_MULTI` came with
//! 5.13): the runtime's wake-up poll on its eventfd completes at once with `EINVAL`. Re-armed
//! as it was, the next turn gets `EINVAL` again: a core that spins while idle. The runtime must
//! fall back to a single-shot poll armed again after each wake-up: an idle runtime sleeps in the
//! kernel, and wake-ups from other threads still arrive.
//!
//! The old kernel is scripted (`coring::faults::refuse_multishot_poll`): the poll goes out with
//! a flag the kernel refuses on a multishot poll, so the `EINVAL` is the kernel's own.
//!
//! Run with `cargo test --release --features fault-injection --test
//! a_kernel_refusing_multishot_poll_neither_spins_nor_loses_wake_ups` (`ci/test` does).

mod common;

use common::within;
use coring::faults;
use coring::sync::oneshot;
use coring::time::{sleep, timeout};
use coring::{Backend, Runtime};
use std::time::Duration;

#[test]
fn a_kernel_refusing_multishot_poll_neither_spins_nor_loses_wake_ups() {
    within(Duration::from_secs(60), || {
        faults::refuse_multishot_poll(true);
        let runtime = Runtime::new().unwrap();
        runtime.block_on(async {
            // A first turn sees the refusal.
            sleep(Duration::from_millis(20)).await;
            let before = runtime.metrics();
            sleep(Duration::from_millis(200)).await;
            let idle = runtime.metrics().enters - before.enters;
            // One enter per timer (two with a wake-up around it); a spinning core makes
            // thousands.
            assert!(
                idle <= 20,
                "{idle} enters over an idle 200 ms: the core spins\n{:#?}",
                runtime.metrics()
            );
            for round in 0..5u32 {
                let (tx, rx) = oneshot::channel();
                let thread = std::thread::spawn(move || {
                    // Long enough for the runtime to be asleep in the kernel on `rx`.
                    std::thread::sleep(Duration::from_millis(50));
                    tx.send(round).unwrap();
                });
                let got = timeout(Duration::from_secs(10), rx).await;
                assert_eq!(
                    got.map(Result::unwrap).ok(),
                    Some(round),
                    "round {round}: the wake-up from another thread never arrived"
                );
                thread.join().unwrap();
            }
            let after = runtime.metrics();
            if after.backend == Backend::IoUring {
                // The refusal was scripted and seen: the poll is single-shot now.
                assert!(!after.wake_poll_multishot, "{after:#?}");
                // Each wake-up roused the sleeping ring through the eventfd's poll.
                assert!(after.notified_by_eventfd >= 5, "{after:#?}");
                // One arm per wake-up (and a spare for a write drained late), never per turn.
                let arms = after.multishot_rearms - before.multishot_rearms;
                assert!(arms <= 2 * 5 + 2, "{arms} arms for 5 wake-ups: {after:#?}");
            }
        });
        faults::clear();
    });
}
