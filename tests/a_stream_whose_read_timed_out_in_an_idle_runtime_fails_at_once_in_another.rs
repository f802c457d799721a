//! A stream whose read was cancelled (a timeout) in runtime A, then used in runtime B while A is
//! alive but not running: A's cancelled read can only be finished by A's ring, which nobody
//! drives. The read in B must not wait for it: it fails at once with an error saying the
//! earlier read belongs to another runtime. Once A is dropped (which finishes the cancelled
//! read), B reads normally.

mod common;

use common::within;
use coring::net::TcpStream;
use coring::time::timeout;
use std::io::Write;
use std::time::Duration;

#[test]
fn a_stream_whose_read_timed_out_in_an_idle_runtime_fails_at_once_in_another() {
    if common::skip::io_uring_only(
        "a_stream_whose_read_timed_out_in_an_idle_runtime_fails_at_once_in_another",
    ) {
        return;
    }
    within(Duration::from_secs(20), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();

        let a = coring::Runtime::new().unwrap();
        let stream = a.block_on(async {
            let stream = TcpStream::from_std(client).unwrap();
            let read = timeout(
                Duration::from_millis(20),
                stream.read(Vec::with_capacity(8)),
            );
            assert!(
                read.await.is_err(),
                "nothing was sent, yet the read finished"
            );
            stream
        });
        // A is alive and idle; the peer now sends.
        peer.write_all(b"x").unwrap();

        let b = coring::Runtime::new().unwrap();
        let (result, _) = b.block_on(async {
            timeout(Duration::from_secs(5), stream.read(Vec::with_capacity(8)))
                .await
                .expect("the read in B waited for a cancelled read only A's ring can finish")
        });
        let err = result.expect_err("the byte went to A's cancelled read, so B cannot have it");
        let message = err.to_string();
        assert!(
            message.contains("another runtime"),
            "unclear error: {message}"
        );

        // Once A is gone, its cancelled read is finished and B can go on: the byte was either
        // taken by A's read (a gap, reported as such) or is still in the socket.
        drop(a);
        let (result, buf) = b.block_on(async {
            timeout(Duration::from_secs(5), stream.read(Vec::with_capacity(8)))
                .await
                .expect("the read in B still waits after A was dropped")
        });
        match result {
            Ok(n) => assert_eq!(&buf[..n], b"x"),
            Err(err) => assert!(err.to_string().contains("gap"), "{err}"),
        }
    });
}
