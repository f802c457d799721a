//! A read dropped in flight leaves its buffer with the driver, which disposes of the result
//! when the kernel's completion comes, inside the runtime's loop: it asks the buffer where the
//! bytes went (`stable_mut_ptr`), which is user code. If that panics, the panic comes out of
//! the `block_on` that was running, and the runtime must still be usable afterwards: no
//! completion lost or handled twice, the next op works, and the runtime drops cleanly.
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

const CHILD: &str = "CORING_TEST_BUFFER_PANICS_IN_DISPOSE";

#[test]
fn the_runtime_goes_on_after_a_buffer_panicked_in_disposal() {
    if is_child(CHILD) {
        return child();
    }
    if !common::backends().contains(&Backend::IoUring) {
        return common::skipped(
            "the_runtime_goes_on_after_a_buffer_panicked_in_disposal",
            "io_uring unavailable",
        );
    }
    let run = run_child(
        "the_runtime_goes_on_after_a_buffer_panicked_in_disposal",
        &[(CHILD, "1")],
        Duration::from_secs(60),
    );
    assert!(
        run.status.success() && run.stdout.contains("runtime went on"),
        "the child failed ({:?}):\n{}",
        run.status,
        run.report()
    );
}

fn child() {
    let runtime = Builder::new().backend(Backend::IoUring).build().unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.connect(receiver.local_addr().unwrap()).unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let buf = PanicsWhenArmed::new(64, &armed);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let mut recv = Box::pin(receiver.recv(buf));
            assert!(common::poll_once(recv.as_mut()).await.is_none());
            // The datagram is there before the entry is submitted, so the receive takes it.
            sender.send(b"first").unwrap();
            armed.store(true, Ordering::Relaxed);
            drop(recv);
            for _ in 0..10 {
                coring::task::yield_now().await;
            }
        })
    }));
    println!("block_on panicked: {}", panicked.is_err());
    armed.store(false, Ordering::Relaxed);
    let after = runtime.block_on(async {
        sender.send(b"second").unwrap();
        coring::time::timeout(Duration::from_secs(5), receiver.recv(vec![0u8; 64])).await
    });
    let (n, bytes) = after.expect("the next receive never completed");
    assert_eq!(&bytes[..n.unwrap()], b"second");
    drop(receiver);
    drop(runtime);
    println!("runtime went on");
}
