//! `WorkerHandle::metrics` reads a running worker's counters from another thread. Its promises:
//! counters only grow (two reads never see one go down), and the gauges say how things stand,
//! so once the work is over (ops completed, given up by a timeout, or dropped with a task that
//! panicked or was aborted; tasks detached by a dropped `JoinHandle`) they are back at 0 while
//! the worker lives on.

mod common;

use common::{poll_once, within};
use coring::net::UdpSocket;
use coring::runtime::Metrics;
use coring::Builder;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 40;

/// Every counter of a snapshot, by name.
fn counters(m: &Metrics) -> [(&'static str, u64); 21] {
    [
        ("sqes_submitted", m.sqes_submitted),
        ("enters", m.enters),
        ("sq_full_flushes", m.sq_full_flushes),
        ("completions", m.completions),
        ("cq_overflow", m.cq_overflow),
        ("cq_overflow_reaps", m.cq_overflow_reaps),
        ("cancels_sent", m.cancels_sent),
        ("cancels_in_flight", m.cancels_in_flight),
        ("abandoned_ops", m.abandoned_ops),
        ("multishot_rearms", m.multishot_rearms),
        ("enobufs", m.enobufs),
        ("tasks_polled", m.tasks_polled),
        ("local_wakes", m.local_wakes),
        ("remote_wakes", m.remote_wakes),
        ("notified_by_msg_ring", m.notified_by_msg_ring),
        ("notified_by_eventfd", m.notified_by_eventfd),
        ("msg_ring_sent", m.msg_ring_sent),
        ("msg_ring_failed", m.msg_ring_failed),
        ("msg_ring_received", m.msg_ring_received),
        ("timers_armed", m.timers_armed),
        ("timers_fired", m.timers_fired),
    ]
}

fn gauges(m: &Metrics) -> (usize, usize, usize, usize) {
    (
        m.ops_in_flight,
        m.op_slots_in_use,
        m.live_tasks,
        m.pending_timers,
    )
}

/// One round of work that ends every way a task or an op can end.
async fn round() {
    let socket = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = socket.local_addr().unwrap();
    // Completed: a datagram to itself.
    let (sent, _) = socket.send_to(b"ping".to_vec(), addr).await;
    sent.unwrap();
    let (got, _) = socket.recv_from(vec![0u8; 16]).await;
    got.unwrap();
    // Given up by a timeout: abandoned, cancelled.
    let late = coring::time::timeout(Duration::from_millis(1), socket.recv(vec![0u8; 16]));
    assert!(late.await.is_err());
    // A task that panics with a receive in flight.
    let s = socket.clone();
    let panicked = coring::spawn(async move {
        let mut recv = pin!(s.recv(vec![0u8; 16]));
        assert!(poll_once(recv.as_mut()).await.is_none());
        coring::task::yield_now().await;
        panic!("a task panicking with a receive in flight (expected by the test)");
    });
    assert!(panicked.await.is_err());
    // A task aborted while it waits on a receive and a sleep.
    let s = socket.clone();
    let aborted = coring::spawn(async move {
        let sleep = coring::time::sleep(Duration::from_secs(3600));
        let _ = futures_util::future::join(s.recv(vec![0u8; 16]), sleep).await;
    });
    coring::task::yield_now().await;
    aborted.abort();
    assert!(aborted.await.is_err());
    // A detached task: its handle dropped, it finishes on its own.
    drop(coring::spawn(async {
        coring::time::sleep(Duration::from_millis(1)).await;
    }));
}

#[test]
fn a_workers_metrics_read_from_another_thread_never_go_back_and_settle_at_zero() {
    within(Duration::from_secs(120), || {
        let runtime = Builder::new().workers(2).build_multi().unwrap();
        let worker = runtime.handles()[1].clone();
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        let job = worker.spawn_with(|| async move {
            for _ in 0..ROUNDS {
                round().await;
            }
            finished.store(true, Ordering::Release);
        });
        let mut last = worker.metrics();
        let mut reads = 0u64;
        let check = |now: &Metrics, last: &mut Metrics| {
            for ((name, before), (_, after)) in counters(last).iter().zip(counters(now)) {
                assert!(
                    after >= *before,
                    "{name} went from {before} to {after} between two reads"
                );
            }
            *last = *now;
        };
        while !done.load(Ordering::Acquire) {
            let now = worker.metrics();
            check(&now, &mut last);
            reads += 1;
        }
        runtime.block_on(job).unwrap();
        // The detached sleeps and the last cancels finish on the worker's own time.
        let started = Instant::now();
        loop {
            let now = worker.metrics();
            check(&now, &mut last);
            if gauges(&now) == (0, 0, 0, 0) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "(ops in flight, op slots in use, live tasks, pending timers) stay at {:?} after \
                 the work ended: {now:#?}",
                gauges(&now)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(reads > 0);
        assert!(last.tasks_polled >= ROUNDS as u64 * 3, "{last:#?}");
        if last.backend == coring::Backend::IoUring {
            assert!(last.abandoned_ops >= ROUNDS as u64, "{last:#?}");
        }
    });
}
