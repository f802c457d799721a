//! Accepts dropped by a timeout leak no file descriptor (docs/HAZARDS.md H5): neither those
//! cancelled while waiting, nor those whose connection was accepted in the same ring submission
//! as their cancel (the kernel completes the accept, the listener keeps the new socket for its
//! next accept, which the test takes and closes, and the client sees the connection closed).
//! Afterwards the process holds exactly the fds it held before, and the runtime has no
//! operation in flight.
//!
//! One test per file: the fd count is per process, and tests in one binary run in parallel.

mod common;

use common::open_fds;
use coring::net::TcpListener;
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::io::Read;
use std::time::{Duration, Instant};

/// Waits (letting the runtime turn) until `done` holds, or panics after a few seconds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(2)).await;
    }
}

#[test]
fn cancelled_accept_leaks_no_fd() {
    if common::skip::io_uring_only("cancelled_accept_leaks_no_fd") {
        return;
    }
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        // Let the runtime settle (its own fds are open from here on).
        sleep(Duration::from_millis(1)).await;
        let before = open_fds();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        // 1. Accepts cancelled while waiting: nobody connects.
        for _ in 0..100 {
            let r = timeout(Duration::from_millis(1), listener.accept()).await;
            assert!(r.is_err(), "nobody connected, yet an accept succeeded");
        }

        // 2. Accepts cancelled as their connection is already waiting: a zero timeout pushes the
        //    accept and its cancel in the same submission, so the kernel completes the accept
        //    first and the runtime must close the fd nobody takes.
        let mut clients = Vec::new();
        let (mut disposed, mut taken) = (0, 0);
        for _ in 0..100 {
            clients.push(std::net::TcpStream::connect(addr).unwrap());
            match timeout(Duration::ZERO, listener.accept()).await {
                Ok(accepted) => {
                    drop(accepted.unwrap());
                    taken += 1;
                }
                Err(_) => disposed += 1,
            }
        }
        // Connections whose accept was cancelled wait in the backlog, or on the listener if the
        // kernel had accepted them anyway: take them now.
        while let Ok(accepted) = timeout(Duration::from_millis(50), listener.accept()).await {
            drop(accepted.unwrap());
            taken += 1;
        }
        eprintln!("{disposed} accepts dropped, {taken} connections accepted normally");
        assert!(
            disposed > 0,
            "no accept was dropped: the test did not test anything"
        );

        // Every client's connection was closed by someone: each reads EOF (or a reset).
        eventually("the runtime has no operation in flight", || {
            runtime.metrics().ops_in_flight == 0
        })
        .await;
        for mut client in clients {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            match client.read(&mut [0u8; 8]) {
                Ok(0) => {}
                Ok(n) => panic!("read {n} bytes from a connection nobody wrote to"),
                Err(err) => assert_eq!(
                    err.kind(),
                    std::io::ErrorKind::ConnectionReset,
                    "the accepted side was left open: {err}"
                ),
            }
        }

        drop(listener);
        eventually("no fd is left open", || open_fds() == before).await;
        assert_eq!(runtime.metrics().ops_in_flight, 0);
    });
    assert_eq!(runtime.metrics().ops_in_flight, 0);
}
