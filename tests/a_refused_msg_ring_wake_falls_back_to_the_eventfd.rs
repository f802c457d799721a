//! A worker wakes a task parked on another worker by posting a `MSG_RING` completion to that
//! worker's ring. The kernel may refuse the message (an error completion on the sender's ring:
//! `ENOMEM`, `EOVERFLOW` when the target's completion queue is full, ...); the target, blocked
//! in `io_uring_enter`, would then sleep forever. The sender must deliver the wake-up through
//! the target's eventfd instead, and count the refusal in its metrics.
//!
//! The refusal is scripted (`coring::faults::fail_next_msg_rings`): the message is aimed at no
//! ring, so the kernel itself fails it.
//!
//! Run with `cargo test --release --features fault-injection --test
//! a_refused_msg_ring_wake_falls_back_to_the_eventfd` (`ci/test` does).

mod common;

use common::within;
use coring::faults;
use coring::runtime::workers;
use coring::sync::oneshot;
use coring::Builder;
use std::time::Duration;

#[test]
fn a_refused_msg_ring_wake_falls_back_to_the_eventfd() {
    let metrics = within(Duration::from_secs(20), || {
        let runtime = Builder::new().workers(2).build_multi().unwrap();
        let woke = runtime.block_on_with(|| async {
            let (tx, rx) = oneshot::channel::<u32>();
            let sender = workers()[1].spawn(async move {
                faults::fail_next_msg_rings(1);
                // Long enough for worker 0 to block in the kernel on `rx`, with nothing else
                // to wake it: only this wake-up can.
                coring::time::sleep(Duration::from_millis(200)).await;
                tx.send(7).unwrap();
                faults::pending().msg_rings
            });
            let value = rx.await.unwrap();
            // The script was used: the wake-up really went out as a `MSG_RING`, and was refused.
            assert_eq!(sender.await.unwrap(), 0, "worker 1 never sent its MSG_RING");
            value
        });
        assert_eq!(woke, 7);
        runtime.metrics()
    });
    let (target, sender) = (&metrics[0], &metrics[1]);
    assert_eq!(sender.msg_ring_failed, 1, "worker 1: {sender:#?}");
    assert!(sender.msg_ring_sent >= 1, "worker 1: {sender:#?}");
    assert!(
        target.notified_by_eventfd >= 1,
        "worker 0 was not woken through its eventfd: {target:#?}"
    );
}
