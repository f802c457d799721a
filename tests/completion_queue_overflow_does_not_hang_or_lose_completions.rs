//! `entries(2)` gives a completion queue of 8 entries. A thousand receives completing at once
//! overflow it many times over; with `IORING_FEAT_NODROP` the kernel keeps the excess and the
//! runtime must flush it (`GETEVENTS` when the overflow flag is up, retry on `EBUSY`). Every
//! completion must arrive, nothing may hang (tokio-uring's `completion_overflow`), and each test
//! proves the overflow happened: `Metrics::cq_overflow_reaps` counts the reaps that found
//! `IORING_SQ_CQ_OVERFLOW` set.
//!
//! No-ops cannot show this: they complete as they are submitted, two at a time here, and the
//! runtime reaps whenever the two-entry submission queue is full, so the queue of 8 never fills
//! (ten thousand no-ops left `cq_overflows` at 0). The full-submission-queue path they exercise
//! is `six_hundred_ops_pass_through_a_two_entry_submission_queue`.

mod common;

use common::Watchdog;
use std::time::Duration;

/// Arms `sockets` UDP receives, sends one datagram to each from another thread while this
/// thread is blocked, then collects them: the completions land at once on a queue of 8.
/// Returns what each socket received (its index, if nothing was lost or crossed).
fn burst(runtime: &coring::Runtime, sockets: usize) -> Vec<u64> {
    runtime.block_on(async {
        let sockets: Vec<_> = (0..sockets)
            .map(|_| coring::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<_> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
        let receivers: Vec<_> = sockets
            .into_iter()
            .map(|socket| {
                coring::spawn(async move {
                    let (n, buf) = socket.recv(Vec::with_capacity(16)).await;
                    let n = n.expect("recv");
                    assert_eq!(n, 8);
                    u64::from_le_bytes(buf[..8].try_into().unwrap())
                })
            })
            .collect();
        // Let every receiver start: its recv is pushed (and, with 2 entries, submitted).
        for _ in 0..4 {
            coring::task::yield_now().await;
        }
        assert_eq!(
            runtime.metrics().ops_in_flight,
            addrs.len(),
            "every recv is armed"
        );
        let sender = std::thread::spawn(move || {
            let out = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for (i, addr) in addrs.iter().enumerate() {
                out.send_to(&(i as u64).to_le_bytes(), addr).unwrap();
            }
        });
        sender.join().unwrap();
        // Block this thread (deliberately, not a coring sleep) so every completion is ready
        // before the runtime next asks the kernel for any.
        std::thread::sleep(Duration::from_millis(50));
        coring::task::join_all(receivers)
            .await
            .into_iter()
            .map(|got| got.expect("receiver task"))
            .collect()
    })
}

#[test]
fn a_burst_of_asynchronous_completions_overflows_the_queue_and_none_is_lost() {
    if common::skip::io_uring_only(
        "a_burst_of_asynchronous_completions_overflows_the_queue_and_none_is_lost",
    ) {
        return;
    }
    let _watchdog = Watchdog::new(
        60,
        "a_burst_of_asynchronous_completions_overflows_the_queue_and_none_is_lost",
    );
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let received = burst(&runtime, 1_000);
    for (i, got) in received.into_iter().enumerate() {
        assert_eq!(got, i as u64, "socket {i}");
    }
    let stats = runtime.metrics();
    assert!(
        stats.cq_overflow_reaps > 0,
        "the completion queue never overflowed, so this proved nothing: {stats:?}"
    );
    assert_eq!(stats.cq_overflow, 0, "the kernel dropped completions");
    assert_eq!(runtime.metrics().ops_in_flight, 0);
    assert_eq!(runtime.metrics().op_slots_in_use, 0);
}

#[test]
fn repeated_overflowing_bursts_keep_working() {
    if common::skip::io_uring_only("repeated_overflowing_bursts_keep_working") {
        return;
    }
    let _watchdog = Watchdog::new(60, "repeated_overflowing_bursts_keep_working");
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    for round in 0..10 {
        let before = runtime.metrics().cq_overflow_reaps;
        let received = burst(&runtime, 200);
        for (i, got) in received.into_iter().enumerate() {
            assert_eq!(got, i as u64, "round {round}, socket {i}");
        }
        let stats = runtime.metrics();
        assert!(
            stats.cq_overflow_reaps > before,
            "round {round} did not overflow the completion queue: {stats:?}"
        );
        assert_eq!(
            stats.cq_overflow, 0,
            "round {round}: the kernel dropped completions"
        );
    }
    assert_eq!(runtime.metrics().op_slots_in_use, 0);
}
