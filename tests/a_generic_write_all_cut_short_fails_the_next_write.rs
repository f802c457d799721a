//! `AsyncWriteRentExt::write_all` (and so `io::copy`) on a `TcpStream`, dropped after part of
//! the buffer went out (here by a `timeout` while the peer does not read), leaves the peer with a
//! cut-off message. The stream must remember it, as the inherent `TcpStream::write_all` does,
//! and fail the next write. Before the fix the next `write_all` succeeded and the peer got the
//! truncated message followed by the next one, with no error anywhere (issue 18, item 8).

mod common;

use common::Watchdog;
use coring::io::AsyncWriteRentExt;
use coring::time::timeout;
use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_generic_write_all_cut_short_fails_the_next_write() {
    let _watchdog = Watchdog::new(60, "a_generic_write_all_cut_short_fails_the_next_write");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (start_reading, go) = mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        // Read nothing until told: the writer's socket buffers fill and its write waits.
        let _ = go.recv();
        let mut received = 0u64;
        let mut chunk = vec![0u8; 1 << 16];
        while let Ok(n @ 1..) = peer.read(&mut chunk) {
            received += n as u64;
        }
        received
    });
    coring::block_on(async {
        let mut stream = coring::net::TcpStream::connect(addr).await.unwrap();
        let message = vec![7u8; 64 << 20];
        let cut = timeout(
            Duration::from_millis(500),
            AsyncWriteRentExt::write_all(&mut stream, message),
        )
        .await;
        assert!(
            cut.is_err(),
            "64 MiB cannot fit in a non-reading peer's socket"
        );

        start_reading.send(()).unwrap();
        let (result, _) = timeout(
            Duration::from_secs(20),
            AsyncWriteRentExt::write_all(&mut stream, b"next message".to_vec()),
        )
        .await
        .expect("the next write_all neither failed nor finished");
        let err = result.expect_err("the next write_all succeeded after a cut-off message");
        println!("next write_all: {err}");
        assert!(err.to_string().contains("gap"), "{err}");
    });
    peer.join().unwrap();
}
