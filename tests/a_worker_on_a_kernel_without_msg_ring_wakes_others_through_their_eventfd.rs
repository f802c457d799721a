//! `MSG_RING` came with Linux 5.18; coring runs from 5.11. A worker waking another worker's
//! ring on an older kernel must not send a `MSG_RING` the kernel will refuse (an entry and an
//! enter wasted on every cross-worker wake-up before the eventfd fallback): where the probe of
//! the kernel's opcodes lacks it, the wake-up goes straight to the target's eventfd.
//!
//! The old kernel is scripted (`faults::hide_opcode`, `fault-injection`) on the waking worker.

mod common;

use common::within;
use coring::faults::{self, OpKind};
use coring::runtime::workers;
use coring::sync::oneshot;
use coring::{Backend, Builder};
use std::time::Duration;

#[test]
fn a_worker_on_a_kernel_without_msg_ring_wakes_others_through_their_eventfd() {
    let metrics = within(Duration::from_secs(30), || {
        let runtime = Builder::new().workers(2).build_multi().unwrap();
        let woke = runtime.block_on_with(|| async {
            let (tx, rx) = oneshot::channel::<u32>();
            let sender = workers()[1].spawn(async move {
                faults::hide_opcode(OpKind::MsgRing);
                // Long enough for worker 0 to block in the kernel on `rx`.
                coring::time::sleep(Duration::from_millis(200)).await;
                tx.send(7).unwrap();
                // Not cleared: the task's end wakes worker 0 (`sender.await`) too.
            });
            let value = rx.await.unwrap();
            sender.await.unwrap();
            value
        });
        assert_eq!(woke, 7);
        runtime.metrics()
    });
    let (target, sender) = (&metrics[0], &metrics[1]);
    if sender.backend != Backend::IoUring {
        return;
    }
    assert_eq!(sender.msg_ring_sent, 0, "worker 1: {sender:#?}");
    assert_eq!(sender.msg_ring_failed, 0, "worker 1: {sender:#?}");
    assert!(
        target.notified_by_eventfd >= 1,
        "worker 0 was not woken through its eventfd: {target:#?}"
    );
}
