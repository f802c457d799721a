//! A stream read started in runtime A and dropped while runtime B runs (the future was kept
//! outside A's `block_on`) is cancelled on A's ring, which only A can reap. Issue 27's promise
//! (see `TcpStream`'s "Cancellation" docs) is that the next read elsewhere fails at once rather
//! than wait on a ring nobody drives. The next read in B hung: the stream took B, where the
//! future happened to be dropped, for the runtime that owned the cancelled read.

mod common;

use common::{poll_once, Watchdog};
use coring::net::TcpStream;
use coring::time::timeout;
use std::time::Duration;

#[test]
fn a_read_of_one_runtime_dropped_while_another_runs_does_not_hang_the_next_read() {
    if common::skip::io_uring_only(
        "a_read_of_one_runtime_dropped_while_another_runs_does_not_hang_the_next_read",
    ) {
        return;
    }
    let _watchdog = Watchdog::new(30, "a_read_of_one_runtime_dropped_while_another_runs");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    let a = coring::Runtime::new().unwrap();
    let b = coring::Runtime::new().unwrap();
    let stream = TcpStream::from_std(client).unwrap();

    let mut read = Box::pin(stream.read(vec![0u8; 16]));
    a.block_on(async {
        assert!(poll_once(read.as_mut()).await.is_none());
        // One turn of A's loop submits the read; nothing arrives for it.
        coring::task::yield_now().await;
    });
    let next = b.block_on(async {
        drop(read);
        timeout(Duration::from_secs(3), stream.read(vec![0u8; 16])).await
    });
    let (result, _) = next.expect("the next read waited for A, which is not running");
    let err = result.expect_err("the next read cannot know whether A's read took bytes");
    assert!(err.to_string().contains("another runtime"), "{err}");
    drop(a);
}
