//! On a multi-worker runtime, a task on worker 1 drops a receive in flight whose buffer panics
//! when the driver disposes of the result (user code, run in the worker's loop turn). The
//! worker must go on: a task that panics is that task's failure, not its worker's, and a
//! panicking buffer must not take the worker's other tasks and all later work down with it.
//!
//! Run in a child process: a failure may be an abort or a hang.

mod common;

use common::buf::PanicsWhenArmed;
use common::process::{is_child, run_child};
use coring::net::UdpSocket;
use coring::{Backend, Builder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHILD: &str = "CORING_TEST_DISPOSE_PANIC_ON_A_WORKER";

#[test]
fn a_dispose_panic_on_a_worker_leaves_the_worker_running() {
    if is_child(CHILD) {
        return child();
    }
    if !common::backends().contains(&Backend::IoUring) {
        return common::skipped(
            "a_dispose_panic_on_a_worker_leaves_the_worker_running",
            "io_uring unavailable",
        );
    }
    let run = run_child(
        "a_dispose_panic_on_a_worker_leaves_the_worker_running",
        &[(CHILD, "1")],
        Duration::from_secs(60),
    );
    assert!(
        run.status.success() && run.stdout.contains("the worker went on"),
        "the child failed ({:?}):\n{}",
        run.status,
        run.report()
    );
}

fn child() {
    let runtime = Builder::new()
        .backend(Backend::IoUring)
        .workers(2)
        .build_multi()
        .unwrap();
    let worker = runtime.handles()[1].clone();
    let armed = Arc::new(AtomicBool::new(false));
    let dropping = {
        let armed = armed.clone();
        worker.spawn_with(move || async move {
            let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sender.connect(receiver.local_addr().unwrap()).unwrap();
            let mut recv = Box::pin(receiver.recv(PanicsWhenArmed::new(64, &armed)));
            assert!(common::poll_once(recv.as_mut()).await.is_none());
            sender.send(b"first").unwrap();
            armed.store(true, Ordering::Relaxed);
            drop(recv);
            for _ in 0..10 {
                coring::task::yield_now().await;
            }
        })
    };
    let dropped = common::within(Duration::from_secs(10), move || coring::block_on(dropping));
    println!(
        "the dropping task ended: {:?}",
        dropped.as_ref().map(|_| ())
    );
    let later = worker.spawn(async { 6 * 7 });
    let later = common::within(Duration::from_secs(10), move || coring::block_on(later));
    assert_eq!(
        later.ok(),
        Some(42),
        "worker 1 ran no work after a buffer panicked in its driver"
    );
    drop(runtime);
    println!("the worker went on");
}
