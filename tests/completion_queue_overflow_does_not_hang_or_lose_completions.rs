//! `entries(2)` gives a completion queue of 8 entries. Ten thousand operations in flight at once
//! overflow it many times over; with `IORING_FEAT_NODROP` the kernel keeps the excess and the
//! runtime must flush it (`GETEVENTS` when the overflow flag is up, retry on `EBUSY`). Every
//! completion must arrive, and nothing may hang (tokio-uring's `completion_overflow`).

mod common;

use common::Watchdog;
use std::time::Duration;

const OPS: usize = 10_000;

#[test]
fn ten_thousand_nops_from_join_all_complete_through_a_tiny_ring() {
    let _watchdog = Watchdog::new(
        30,
        "ten_thousand_nops_from_join_all_complete_through_a_tiny_ring",
    );
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let before = runtime.ring_stats();
    let results = runtime
        .block_on(async { coring::task::join_all((0..OPS).map(|_| coring::runtime::nop())).await });
    assert_eq!(results.len(), OPS);
    let failed: Vec<_> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e.to_string())))
        .collect();
    assert!(failed.is_empty(), "failed nops: {failed:?}");
    let stats = runtime.ring_stats();
    assert!(
        stats.completions - before.completions >= OPS as u64,
        "every completion was reaped: {before:?} -> {stats:?}"
    );
    assert_eq!(runtime.ops_in_flight(), 0);
    assert_eq!(runtime.op_slots_in_use(), 0);
}

#[test]
fn ten_thousand_nops_from_spawned_tasks_complete_through_a_tiny_ring() {
    let _watchdog = Watchdog::new(
        30,
        "ten_thousand_nops_from_spawned_tasks_complete_through_a_tiny_ring",
    );
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let results = runtime.block_on(async {
        let handles: Vec<_> = (0..OPS)
            .map(|_| coring::spawn(coring::runtime::nop()))
            .collect();
        coring::task::join_all(handles).await
    });
    assert_eq!(results.len(), OPS);
    for (i, result) in results.into_iter().enumerate() {
        result
            .unwrap_or_else(|e| panic!("task {i}: {e}"))
            .unwrap_or_else(|e| panic!("nop {i}: {e}"));
    }
    assert_eq!(runtime.op_slots_in_use(), 0);
    assert_eq!(runtime.live_tasks(), 0);
}

#[test]
fn repeated_overflowing_bursts_keep_working() {
    let _watchdog = Watchdog::new(60, "repeated_overflowing_bursts_keep_working");
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    runtime.block_on(async {
        for round in 0..20 {
            let results = coring::task::join_all((0..1_000).map(|_| coring::runtime::nop())).await;
            assert!(
                results.iter().all(Result::is_ok),
                "round {round}: {results:?}"
            );
        }
    });
    assert_eq!(runtime.op_slots_in_use(), 0);
}

#[test]
fn a_burst_of_asynchronous_completions_overflows_the_queue_and_none_is_lost() {
    // No-ops complete inline as they are submitted, two at a time here, so they never pile up
    // in the completion queue. Receives do: a thousand are armed, the datagrams arrive while the
    // runtime's thread is blocked, and then a thousand completions land at once on a queue of 8.
    let _watchdog = Watchdog::new(
        60,
        "a_burst_of_asynchronous_completions_overflows_the_queue_and_none_is_lost",
    );
    const SOCKETS: usize = 1_000;
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let received = runtime.block_on(async {
        let sockets: Vec<_> = (0..SOCKETS)
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
        assert_eq!(runtime.ops_in_flight(), SOCKETS, "every recv is armed");
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
        coring::task::join_all(receivers).await
    });
    for (i, got) in received.into_iter().enumerate() {
        assert_eq!(got.expect("receiver task"), i as u64, "socket {i}");
    }
    assert_eq!(runtime.ops_in_flight(), 0);
    assert_eq!(runtime.op_slots_in_use(), 0);
}
