//! Adversary (BufWriter's parked send and `timeout_op`): a flush dropped by `timeout` leaves a
//! send parked; then flushes under `timeout_op` (which cancels the ring operations of its
//! future, even the parked send it awaits, and still awaits them) run again and again until one
//! finishes, while the peer reads slowly. `timeout_op` promises "no later read or write fails
//! because of the timeout", and the `BufWriter` "no byte lost, repeated or reordered": the
//! peer must get every byte once, in order, and a later write must succeed. On both backends.

mod common;

use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
use coring::net::TcpStream;
use coring::time::{timeout, timeout_op};
use coring::Backend;
use std::time::Duration;

const LEN: usize = 512 * 1024;

fn run(backend: Backend) {
    let (client, server) = common::small_window_pair();
    let data: Vec<u8> = (0..LEN).map(|i| ((i * 5) % 251) as u8).collect();
    let expected = [data.clone(), b"tail".to_vec()].concat();
    let peer = common::peer::read_to_end_slowly(client, 4096, Duration::from_micros(500));
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let timed_out = runtime.block_on(async {
        let mut writer = BufWriter::with_capacity(2 * LEN, TcpStream::from_std(server).unwrap());
        writer.write_all(data).await.0.unwrap();
        let dropped = timeout(Duration::from_millis(5), writer.flush()).await;
        assert!(dropped.is_err(), "{backend:?}: the first flush is dropped");
        let mut timed_out = 0;
        loop {
            match timeout_op(Duration::from_millis(5), writer.flush()).await {
                Ok(()) => break,
                Err(err) if err.kind() == std::io::ErrorKind::TimedOut => timed_out += 1,
                Err(err) => panic!("{backend:?}: a flush after {timed_out} timeouts: {err}"),
            }
            assert!(timed_out < 100_000, "{backend:?}: the flushes never finish");
        }
        let (tail, _) = writer.write(b"tail".to_vec()).await;
        tail.unwrap_or_else(|err| panic!("{backend:?}: the write after the timeouts: {err}"));
        writer.shutdown().await.unwrap();
        timed_out
    });
    let got = peer.join().unwrap();
    println!("{backend:?}: {timed_out} flushes timed out before one finished");
    common::peer::assert_same_bytes(&format!("{backend:?}"), &got, &expected);
    assert!(timed_out > 0, "{backend:?}: no flush timed out");
}

#[test]
fn timeout_op_flushes_over_a_parked_send_lose_nothing_and_leave_the_stream_usable() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
