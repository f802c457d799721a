//! A TCP read stops short at the urgent mark: with "abc", an out-of-band byte and "def" queued,
//! the first read returns "abc" though "def" is already there. The epoll backend must not take
//! that short read to mean "drained" and wait for an edge that never comes: every byte the peer
//! sent arrived before the read, so no new readiness is reported.

mod common;

use coring::net::TcpStream;
use coring::time::{sleep, timeout};
use coring::{Backend, Builder};
use std::io::Write;
use std::time::Duration;

#[test]
fn the_bytes_after_an_urgent_byte_are_read_without_new_readiness() {
    common::within(Duration::from_secs(60), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, wait_go) = std::sync::mpsc::channel::<()>();
        let (done, wait_done) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            wait_go.recv().unwrap();
            conn.write_all(b"abc").unwrap();
            socket2::SockRef::from(&conn)
                .send_out_of_band(b"X")
                .unwrap();
            conn.write_all(b"def").unwrap();
            // Kept open: an end of stream would be new readiness and hide the bug.
            let _ = wait_done.recv();
        });
        let runtime = Builder::new().backend(Backend::Epoll).build().unwrap();
        runtime.block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            // A read that would block registers the socket with epoll; it times out.
            let waited = timeout(Duration::from_millis(20), stream.read(vec![0u8; 64])).await;
            assert!(
                waited.is_err(),
                "a read completed before the peer sent anything"
            );
            go.send(()).unwrap();
            // Everything arrives (and its readiness is reported and consumed) before reading.
            sleep(Duration::from_millis(200)).await;
            let mut got = Vec::new();
            while got.len() < 6 {
                let read = timeout(Duration::from_secs(5), stream.read(vec![0u8; 64])).await;
                let (n, buf) = read.unwrap_or_else(|_| {
                    panic!(
                        "read hung with {:?} read so far: the bytes after the urgent mark were \
                         never read",
                        String::from_utf8_lossy(&got)
                    )
                });
                let n = n.unwrap();
                assert!(
                    n > 0,
                    "end of stream after {:?}",
                    String::from_utf8_lossy(&got)
                );
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"abcdef");
        });
        done.send(()).unwrap();
        peer.join().unwrap();
    });
}
