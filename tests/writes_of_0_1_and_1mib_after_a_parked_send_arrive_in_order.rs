//! Adversary (BufWriter's parked send): after a flush dropped mid-send, writes of 0 B, 1 B and
//! 1 MiB (at least the capacity: it goes straight to the stream) and a `get_mut`-free shutdown.
//! "No byte lost, repeated or reordered": the peer reads the parked bytes, then 1 B, then the
//! 1 MiB, then the end. On both backends.

mod common;

use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
use coring::net::TcpStream;
use coring::Backend;
use std::io::Read;
use std::time::Duration;

const HELD: usize = 256 * 1024;
const BIG: usize = 1 << 20;

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + seed) % 251) as u8).collect()
}

fn run(backend: Backend) {
    let (mut client, server) = common::small_window_pair();
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let held = pattern(HELD, 1);
    let big = pattern(BIG, 2);
    let expected = [held.clone(), b"!".to_vec(), big.clone()].concat();
    let peer = std::thread::spawn(move || {
        // Let the flush below time out first, with the window full.
        std::thread::sleep(Duration::from_millis(300));
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).map(|_| got)
    });
    runtime.block_on(async {
        let stream = TcpStream::from_std(server).unwrap();
        let mut writer = BufWriter::with_capacity(HELD + 1024, stream);
        writer.write_all(held).await.0.unwrap();
        let flush = coring::time::timeout(Duration::from_millis(100), writer.flush()).await;
        assert!(flush.is_err(), "{backend:?}: the flush waits for the peer");
        let (zero, _) = writer.write(Vec::<u8>::new()).await;
        assert_eq!(zero.unwrap(), 0, "{backend:?}: the empty write");
        let (one, _) = writer.write(b"!".to_vec()).await;
        assert_eq!(one.unwrap(), 1, "{backend:?}: the 1 B write");
        writer.write_all(big).await.0.unwrap();
        writer.shutdown().await.unwrap();
    });
    let got = peer.join().unwrap().unwrap();
    common::peer::assert_same_bytes(&format!("{backend:?}"), &got, &expected);
}

#[test]
fn writes_of_0_1_and_1mib_after_a_parked_send_arrive_in_order() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
