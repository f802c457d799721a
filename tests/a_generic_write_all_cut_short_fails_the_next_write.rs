//! `AsyncWriteRentExt::write_all` (and so `io::copy`) on a `TcpStream`, dropped after part of
//! the buffer went out (here by a `timeout` while the peer does not read), leaves the peer with a
//! cut-off message. The stream must remember it, as the inherent `TcpStream::write_all` does,
//! and fail the next write. Before the fix the next `write_all` succeeded and the peer got the
//! truncated message followed by the next one, with no error anywhere (issue 18, item 8).

mod common;

use common::{StalledPeer, Watchdog};
use coring::io::AsyncWriteRentExt;
use coring::time::timeout;
use std::time::Duration;

#[test]
fn a_generic_write_all_cut_short_fails_the_next_write() {
    let _watchdog = Watchdog::new(60, "a_generic_write_all_cut_short_fails_the_next_write");
    let peer = StalledPeer::new();
    let addr = peer.addr;
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

        peer.start_reading();
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
    peer.join();
}
