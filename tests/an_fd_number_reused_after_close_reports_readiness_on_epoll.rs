//! On the epoll backend an fd is registered once, the first time an op on it would block. When
//! the socket closes, its registration must go with it: the kernel drops a closed fd from the
//! epoll set, and a new socket given the same number would otherwise be thought registered and
//! never report, so a read on it would hang.

mod common;

use coring::net::UnixStream;
use coring::time::timeout;
use coring::{Backend, Builder};
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn a_read_on_a_socket_reusing_a_closed_sockets_number_completes() {
    common::within(Duration::from_secs(60), || {
        let runtime = Builder::new().backend(Backend::Epoll).build().unwrap();
        runtime.block_on(async {
            for round in 0..20 {
                let (a, b) = UnixStream::pair().unwrap();
                let numbers = (a.as_raw_fd(), b.as_raw_fd());
                // A read that would block registers `b`; it times out and is dropped.
                let waited = timeout(Duration::from_millis(5), b.read(vec![0u8; 16])).await;
                assert!(waited.is_err(), "read with nothing sent completed");
                drop((a, b));
                let (c, d) = UnixStream::pair().unwrap();
                assert_eq!(
                    (c.as_raw_fd(), d.as_raw_fd()),
                    numbers,
                    "the new pair did not reuse the numbers; the scenario needs them"
                );
                let reader = coring::spawn(async move { d.read(vec![0u8; 16]).await });
                coring::task::yield_now().await;
                c.write_all(b"ping".to_vec()).await.0.unwrap();
                let (n, buf) = timeout(Duration::from_secs(5), reader)
                    .await
                    .unwrap_or_else(|_| panic!("round {round}: the read on the reused fd hung"))
                    .unwrap();
                assert_eq!(&buf[..n.unwrap()], b"ping");
            }
        });
    });
}
