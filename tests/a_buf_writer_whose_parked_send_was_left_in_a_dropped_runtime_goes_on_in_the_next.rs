//! Adversary (BufWriter's parked send): a `BufWriter` carried to another runtime with a send
//! still parked promises its calls "go on" once the first runtime is dropped (the drop cancels
//! the send, its bytes stay buffered). Here the peer still reads nothing when the second runtime
//! calls, so only that promise, not a finished send, can let the call through. Then the peer
//! must get every byte once, in order. On both backends.

mod common;

use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
use coring::net::TcpStream;
use coring::Backend;
use std::time::Duration;

const LEN: usize = 256 * 1024;

fn run(backend: Backend) {
    let (client, server) = common::small_window_pair();
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let first = coring::Builder::new().backend(backend).build().unwrap();
    let mut writer = first.block_on(async {
        let mut writer = BufWriter::with_capacity(2 * LEN, TcpStream::from_std(server).unwrap());
        writer.write_all(data.clone()).await.0.unwrap();
        let flush = coring::time::timeout(Duration::from_millis(100), writer.flush()).await;
        assert!(flush.is_err(), "{backend:?}: the flush waits for the peer");
        writer
    });
    drop(first);
    let second = coring::Builder::new().backend(backend).build().unwrap();
    second.block_on(async {
        let wrote = writer.write_all("tail").await.0;
        wrote.unwrap_or_else(|err| {
            panic!("{backend:?}: a write once the first runtime is gone: {err}")
        });
    });
    let peer = common::peer::read_to_end(client);
    second.block_on(async { writer.shutdown().await.unwrap() });
    let got = peer.join().unwrap();
    let expected = [data, b"tail".to_vec()].concat();
    assert_eq!(got.len(), expected.len(), "{backend:?}: bytes received");
    assert!(got == expected, "{backend:?}: the bytes differ");
}

#[test]
fn a_buf_writer_whose_parked_send_was_left_in_a_dropped_runtime_goes_on_in_the_next() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
