//! A `WorkerHandle` outlives its `MultiRuntime`, and its `metrics()` still reads the worker's
//! counters. Once the runtime is dropped the worker has shut down: its tasks dropped, their ops
//! cancelled and reaped, their timers gone. The gauges ("how things stand now") must say so,
//! not show what was live at the worker's last loop turn; the counters keep their totals.

mod common;

use common::within;
use coring::net::UdpSocket;
use coring::Builder;
use std::time::Duration;

#[test]
fn a_stopped_workers_metrics_show_nothing_live() {
    let (busy, after) = within(Duration::from_secs(30), || {
        let runtime = Builder::new().workers(1).build_multi().unwrap();
        let worker = runtime.handles()[0].clone();
        // A task left waiting on a receive nobody answers and on a long sleep.
        drop(worker.spawn_with(|| async {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let sleep = coring::time::sleep(Duration::from_secs(3600));
            let _ = futures_util::future::join(socket.recv(vec![0u8; 64]), sleep).await;
        }));
        // Until the worker waits with all of it live.
        let started = std::time::Instant::now();
        let busy = loop {
            let m = worker.metrics();
            let ring = m.backend == coring::Backend::IoUring;
            let ops_live = !ring || (m.ops_in_flight >= 1 && m.op_slots_in_use >= 1);
            if m.live_tasks >= 1 && m.pending_timers >= 1 && ops_live {
                break m;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the worker waits on a receive and a sleep, yet its metrics say: {m:#?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        drop(runtime);
        (busy, worker.metrics())
    });
    let gauges = |m: &coring::runtime::Metrics| {
        (
            m.ops_in_flight,
            m.op_slots_in_use,
            m.live_tasks,
            m.pending_timers,
        )
    };
    assert_eq!(
        gauges(&after),
        (0, 0, 0, 0),
        "(ops in flight, op slots in use, live tasks, pending timers) after shutdown: {after:#?}"
    );
    assert!(after.tasks_polled >= busy.tasks_polled, "{after:#?}");
    assert!(after.timers_armed >= 1, "{after:#?}");
}
