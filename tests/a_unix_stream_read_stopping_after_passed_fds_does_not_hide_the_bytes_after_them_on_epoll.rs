//! A Unix stream read stops after the bytes that carried descriptors: with "fd" (plus an fd)
//! and "next" queued, the first read returns "fd" though "next" is already there. The epoll
//! backend must not take that short read to mean "drained" and wait for an edge that never
//! comes: both writes arrived before the read, so no new readiness is reported.

mod common;

use coring::net::UnixStream;
use coring::time::{sleep, timeout};
use coring::{Backend, Builder};
use std::os::fd::AsFd;
use std::time::Duration;

#[test]
fn the_bytes_after_a_message_with_fds_are_read_without_new_readiness() {
    common::within(Duration::from_secs(60), || {
        let runtime = Builder::new().backend(Backend::Epoll).build().unwrap();
        runtime.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            // A read that would block registers `b` with epoll; it times out.
            let waited = timeout(Duration::from_millis(20), b.read(vec![0u8; 64])).await;
            assert!(waited.is_err(), "a read completed before anything was sent");
            let passed = std::fs::File::open("/dev/null").unwrap();
            let (sent, _) = a.send_with_fds(b"fd".to_vec(), &[passed.as_fd()]).await;
            assert_eq!(sent.unwrap(), 2);
            a.write_all(b"next".to_vec()).await.0.unwrap();
            // The readiness of both writes is reported and consumed before reading.
            sleep(Duration::from_millis(100)).await;
            let mut got = Vec::new();
            while got.len() < 6 {
                let read = timeout(Duration::from_secs(5), b.read(vec![0u8; 64])).await;
                let (n, buf) = read.unwrap_or_else(|_| {
                    panic!(
                        "read hung with {:?} read so far: the bytes after the fds were never read",
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
            assert_eq!(got, b"fdnext");
            drop(a);
        });
    });
}
