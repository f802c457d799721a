//! On the epoll backend a registered socket must lose its registration however it is closed.
//! Dropped outside `block_on` (returned from it, say), its close cannot reach the runtime's fd
//! table: a new socket given the same number must still be made non-blocking and registered,
//! or a read on it blocks the core or never wakes.

mod common;

use coring::net::UnixStream;
use coring::time::timeout;
use coring::{Backend, Builder};
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn a_read_on_a_socket_reusing_the_number_of_one_dropped_outside_the_runtime_completes() {
    common::within(Duration::from_secs(30), || {
        let runtime = Builder::new().backend(Backend::Epoll).build().unwrap();
        let (a, b) = runtime.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            // A read that would block registers `b`; it times out and is dropped.
            let waited = timeout(Duration::from_millis(5), b.read(vec![0u8; 16])).await;
            assert!(waited.is_err(), "read with nothing sent completed");
            (a, b)
        });
        let numbers = (a.as_raw_fd(), b.as_raw_fd());
        // Outside the runtime: closed at once, without the runtime knowing.
        drop((a, b));
        runtime.block_on(async {
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
                .expect("the read on the reused fd hung")
                .unwrap();
            assert_eq!(&buf[..n.unwrap()], b"ping");
        });
    });
}
