//! Several receives dropped in flight complete in one batch, and the buffers of some panic when
//! the driver disposes of their results. The driver catches each, goes on through the batch and
//! raises one panic out of `block_on`: a receive dropped in the same batch with a plain buffer
//! still has its datagram kept for its socket's next receive, and every socket receives again.
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

const CHILD: &str = "CORING_TEST_SEVERAL_DISPOSE_PANICS";
const SOCKETS: usize = 6;

#[test]
fn several_dispose_panics_in_one_batch_leave_every_completion_applied() {
    if is_child(CHILD) {
        return child();
    }
    if !common::backends().contains(&Backend::IoUring) {
        return common::skipped(
            "several_dispose_panics_in_one_batch_leave_every_completion_applied",
            "io_uring unavailable",
        );
    }
    let run = run_child(
        "several_dispose_panics_in_one_batch_leave_every_completion_applied",
        &[(CHILD, "1")],
        Duration::from_secs(60),
    );
    assert!(
        run.status.success() && run.stdout.contains("every socket received again"),
        "the child failed ({:?}):\n{}",
        run.status,
        run.report()
    );
}

fn child() {
    let runtime = Builder::new().backend(Backend::IoUring).build().unwrap();
    let receivers: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            // Socket 0 has a plain buffer; the others' panic, half through `recv`, half
            // through `recv_from` (a `recvmsg`).
            let mut plain = Box::pin(receivers[0].recv(vec![0u8; 64]));
            assert!(common::poll_once(plain.as_mut()).await.is_none());
            let mut recvs = Vec::new();
            let mut recv_froms = Vec::new();
            for (i, socket) in receivers.iter().enumerate().skip(1) {
                let buf = PanicsWhenArmed::new(64, &armed);
                if i % 2 == 0 {
                    let mut recv = Box::pin(socket.recv(buf));
                    assert!(common::poll_once(recv.as_mut()).await.is_none());
                    recvs.push(recv);
                } else {
                    let mut recv = Box::pin(socket.recv_from(buf));
                    assert!(common::poll_once(recv.as_mut()).await.is_none());
                    recv_froms.push(recv);
                }
            }
            // The datagrams are there before the entries are submitted: one batch of results.
            for socket in &receivers {
                sender
                    .send_to(b"first", socket.local_addr().unwrap())
                    .unwrap();
            }
            armed.store(true, Ordering::Relaxed);
            drop(recvs);
            drop(plain);
            drop(recv_froms);
            for _ in 0..10 {
                coring::task::yield_now().await;
            }
        })
    }));
    assert!(panicked.is_err(), "no dispose panic came out of block_on");
    armed.store(false, Ordering::Relaxed);
    runtime.block_on(async {
        let kept = coring::time::timeout(Duration::from_secs(5), receivers[0].recv(vec![0u8; 64]))
            .await
            .expect("the plain socket's next receive never completed");
        let (n, bytes) = kept;
        assert_eq!(
            &bytes[..n.unwrap()],
            b"first",
            "the plain receive's datagram, dropped in the batch, was not kept"
        );
        for (i, socket) in receivers.iter().enumerate() {
            sender
                .send_to(b"second", socket.local_addr().unwrap())
                .unwrap();
            let (n, bytes) =
                coring::time::timeout(Duration::from_secs(5), socket.recv(vec![0u8; 64]))
                    .await
                    .unwrap_or_else(|_| panic!("socket {i}'s next receive never completed"));
            assert_eq!(&bytes[..n.unwrap()], b"second", "socket {i}");
        }
    });
    drop(receivers);
    drop(runtime);
    println!("every socket received again");
}
