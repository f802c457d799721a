//! A task holds a receive whose result came in but was not taken; its buffer panics when asked
//! where the bytes went. Dropping the runtime drops the task, and the driver disposes of the
//! result: the panic must not abort the process, hang the shutdown, leak an fd, or come out of
//! the next runtime built on the thread.
//!
//! Run in a child process: a failure may be an abort.

mod common;

use common::buf::PanicsWhenArmed;
use common::process::{is_child, open_fds_settled, run_child};
use coring::net::UdpSocket;
use coring::{Backend, Builder};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHILD: &str = "CORING_TEST_DISPOSE_PANIC_AT_SHUTDOWN";

#[test]
fn a_dispose_panic_during_the_runtimes_drop_does_not_stop_it() {
    if is_child(CHILD) {
        return child();
    }
    if !common::backends().contains(&Backend::IoUring) {
        return common::skipped(
            "a_dispose_panic_during_the_runtimes_drop_does_not_stop_it",
            "io_uring unavailable",
        );
    }
    let run = run_child(
        "a_dispose_panic_during_the_runtimes_drop_does_not_stop_it",
        &[(CHILD, "1")],
        Duration::from_secs(60),
    );
    assert!(
        run.status.success() && run.stdout.contains("shutdown went through"),
        "the child failed ({:?}):\n{}",
        run.status,
        run.report()
    );
}

fn child() {
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Warm-up: whatever a first runtime opens once per process is not counted as a leak.
    drop(Builder::new().backend(Backend::IoUring).build().unwrap());
    let before = common::process::open_fds();
    let runtime = Builder::new().backend(Backend::IoUring).build().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let receiver = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let to = receiver.local_addr().unwrap();
    let task = {
        let (receiver, sender, armed) =
            (receiver.clone(), sender.try_clone().unwrap(), armed.clone());
        runtime.spawn(async move {
            let mut recv = Box::pin(receiver.recv(PanicsWhenArmed::new(64, &armed)));
            assert!(common::poll_once(recv.as_mut()).await.is_none());
            sender.send_to(b"first", to).unwrap();
            // The receive completes, untaken, while the task waits here for ever.
            std::future::pending::<()>().await;
        })
    };
    runtime.block_on(async {
        for _ in 0..10 {
            coring::task::yield_now().await;
        }
    });
    drop(task);
    armed.store(true, Ordering::Relaxed);
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(runtime)));
    println!("the runtime's drop panicked: {}", dropped.is_err());
    drop(receiver);
    let after = open_fds_settled(before, Duration::from_secs(5));
    assert_eq!(after, before, "fds leaked by the shutdown");
    let next = Builder::new().backend(Backend::IoUring).build().unwrap();
    let raised = catch_unwind(AssertUnwindSafe(|| {
        next.block_on(coring::task::yield_now());
    }));
    assert!(
        raised.is_ok(),
        "the next runtime raised the old runtime's dispose panic"
    );
    println!("shutdown went through");
}
