//! `TcpStream::recv_stream` hands out a `RecvStream` that keeps the socket on its own (it does
//! not borrow the stream), so `into_std` cannot hand the socket over while one lives. The
//! error must say that, so the user drops the `RecvStream`, rather than blame a dropped
//! `shutdown` or zero-copy send the program never made.

mod common;

use std::io;

#[test]
fn into_std_with_a_live_recv_stream_names_it_in_its_error() -> io::Result<()> {
    if common::skip::io_uring_only("into_std_with_a_live_recv_stream_names_it_in_its_error") {
        return Ok(());
    }
    let _watchdog = common::Watchdog::new(30, "into_std with a live recv stream");
    coring::block_on(async {
        let (_client, server) = common::tcp_pair().await;
        let ring = coring::buf::BufRing::new(16, 4096)?;
        let incoming = server.recv_stream(&ring);
        let err = server
            .into_std()
            .await
            .expect_err("handed over a socket a RecvStream still receives from");
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy);
        assert!(
            err.to_string().contains("RecvStream"),
            "the error does not name what holds the socket: {err}"
        );
        drop(incoming);
        Ok(())
    })
}
