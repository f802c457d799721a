//! Adversary (BufWriter's parked send): carried to a second runtime with a send parked, the
//! writer's calls fail at once while only the first runtime can finish the send; "once it runs
//! again or is dropped, they go on". Here the first runs again (both runtimes stay alive) while
//! the peer reads, and the second's next call must go on; the peer gets every byte once, in
//! order. On both backends.

mod common;

use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
use coring::net::TcpStream;
use coring::Backend;
use std::time::Duration;

const LEN: usize = 256 * 1024;

fn run(backend: Backend) {
    let (client, server) = common::small_window_pair();
    let data: Vec<u8> = (0..LEN).map(|i| ((i * 11) % 251) as u8).collect();
    let expected = [data.clone(), b"tail".to_vec()].concat();
    let first = coring::Builder::new().backend(backend).build().unwrap();
    let mut writer = first.block_on(async {
        let mut writer = BufWriter::with_capacity(2 * LEN, TcpStream::from_std(server).unwrap());
        writer.write_all(data).await.0.unwrap();
        let flush = coring::time::timeout(Duration::from_millis(50), writer.flush()).await;
        assert!(flush.is_err(), "{backend:?}: the flush waits for the peer");
        writer
    });
    let second = coring::Builder::new().backend(backend).build().unwrap();
    let err = second.block_on(writer.write("x")).0.unwrap_err();
    assert!(
        err.to_string().contains("another runtime"),
        "{backend:?}: {err}"
    );
    let peer = common::peer::read_to_end(client);
    // The first runs again, long enough for the peer to take everything the kernel has.
    first.block_on(coring::time::sleep(Duration::from_millis(300)));
    second.block_on(async {
        let wrote = writer.write_all("tail").await.0;
        wrote.unwrap_or_else(|err| panic!("{backend:?}: once the first ran again: {err}"));
        writer.shutdown().await.unwrap();
    });
    let got = peer.join().unwrap();
    common::peer::assert_same_bytes(&format!("{backend:?}"), &got, &expected);
}

#[test]
fn a_buf_writer_carried_to_another_runtime_goes_on_once_the_first_runs_again() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
