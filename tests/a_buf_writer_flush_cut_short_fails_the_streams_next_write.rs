//! A `BufWriter<TcpStream>` whose flush is dropped after part of its buffer went out (here by a
//! `timeout` while the peer does not read) leaves the peer with a cut-off message. The
//! `BufWriter` refuses later calls, but the stream it gives back (`into_inner`, `get_mut`) must
//! refuse too, as after a cut-short `write_all`: otherwise the peer reads the cut-off buffer run
//! into whatever is written next, with no error anywhere.

mod common;

use common::{StalledPeer, Watchdog};
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
use coring::time::timeout;
use std::time::Duration;

#[test]
fn a_buf_writer_flush_cut_short_fails_the_streams_next_write() {
    let _watchdog = Watchdog::new(
        60,
        "a_buf_writer_flush_cut_short_fails_the_streams_next_write",
    );
    let peer = StalledPeer::new();
    let addr = peer.addr;
    coring::block_on(async {
        let stream = coring::net::TcpStream::connect(addr).await.unwrap();
        let mut writer = BufWriter::with_capacity(64 << 20, stream);
        // Buffered, not sent: each chunk is smaller than the buffer.
        for _ in 0..64 {
            writer.write_all(vec![7u8; 1 << 20]).await.0.unwrap();
        }
        let cut = timeout(Duration::from_millis(500), writer.flush()).await;
        assert!(
            cut.is_err(),
            "64 MiB cannot fit in a non-reading peer's socket"
        );

        peer.start_reading();
        let stream = writer.into_inner();
        let (result, _) = timeout(
            Duration::from_secs(20),
            stream.write_all(b"next message".to_vec()),
        )
        .await
        .expect("the next write_all neither failed nor finished");
        let err = result.expect_err(
            "the stream's next write_all succeeded after its BufWriter's flush was cut short",
        );
        println!("next write_all: {err}");
    });
    peer.join();
}
