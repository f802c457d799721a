//! A dropped receive whose result was already in (dropped between its completion and its next
//! poll, outside any `block_on`) has the result disposed of at once, and its buffer may panic
//! there (user code). That panic belongs to the runtime the receive ran on: another runtime on
//! the same thread must not raise it out of its own `block_on`; its own runtime's next turn
//! does.
//!
//! Run in a child process: a failure may be an abort.

mod common;

use common::buf::PanicsWhenArmed;
use common::process::{is_child, run_child};
use coring::net::UdpSocket;
use coring::{Backend, Builder};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHILD: &str = "CORING_TEST_DISPOSE_PANIC_OTHER_RUNTIME";

#[test]
fn a_dispose_panic_of_one_runtime_is_not_raised_by_another() {
    if is_child(CHILD) {
        return child();
    }
    if !common::backends().contains(&Backend::IoUring) {
        return common::skipped(
            "a_dispose_panic_of_one_runtime_is_not_raised_by_another",
            "io_uring unavailable",
        );
    }
    let run = run_child(
        "a_dispose_panic_of_one_runtime_is_not_raised_by_another",
        &[(CHILD, "1")],
        Duration::from_secs(60),
    );
    assert!(
        run.status.success() && run.stdout.contains("the other runtime was unaffected"),
        "the child failed ({:?}):\n{}",
        run.status,
        run.report()
    );
}

fn child() {
    let first = Builder::new().backend(Backend::IoUring).build().unwrap();
    let second = Builder::new().backend(Backend::IoUring).build().unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.connect(receiver.local_addr().unwrap()).unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    // In a tuple: the receive comes out unawaited on purpose.
    let (recv,) = first.block_on(async {
        let mut recv = Box::pin(receiver.recv(PanicsWhenArmed::new(64, &armed)));
        assert!(common::poll_once(recv.as_mut()).await.is_none());
        sender.send(b"first").unwrap();
        // The completion comes in while the receive is not polled: completed, untaken.
        for _ in 0..10 {
            coring::task::yield_now().await;
        }
        (recv,)
    });
    armed.store(true, Ordering::Relaxed);
    drop(recv);
    let raised = catch_unwind(AssertUnwindSafe(|| {
        second.block_on(async {
            // A loop turn, where a caught dispose panic is raised.
            coring::task::yield_now().await;
            7
        })
    }));
    assert!(
        raised.is_ok(),
        "the second runtime raised the first one's dispose panic out of its block_on"
    );
    // Its own runtime raises it, at its next turn.
    let raised = catch_unwind(AssertUnwindSafe(|| {
        first.block_on(coring::task::yield_now());
    }));
    assert!(
        raised.is_err(),
        "the first runtime never raised its dispose panic"
    );
    drop(second);
    drop(first);
    println!("the other runtime was unaffected");
}
