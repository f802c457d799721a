//! Thousands of reads under very short `timeout_op` deadlines (zero included) while a writer
//! trickles bytes: every byte arrives once and in order, no read fails with anything but
//! `TimedOut`, and the stream is never poisoned. Reads whose deadline passed with bytes already
//! in their buffer hand them back. Done over TCP on loopback and over a Unix stream pair.
//!
//! (With `time::timeout` instead, which drops the read, this fails within a few thousand bytes:
//! "an earlier read on this TCP stream was cancelled after the kernel had already moved bytes".)

mod common;

use common::{Watchdog, Xorshift};
use coring::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use coring::net::UnixStream;
use coring::time::{sleep, timeout_op, Instant};
use std::io::ErrorKind;
use std::time::Duration;

const TOTAL: usize = 64 * 1024;

/// Writes `data` in pieces of 1 to 64 bytes, pausing up to 1 ms between them.
async fn trickle(mut writer: impl AsyncWriteRent, data: Vec<u8>, seed: u64) {
    let mut rng = Xorshift::new(seed);
    let mut at = 0;
    while at < data.len() {
        let end = (at + 1 + rng.up_to(63)).min(data.len());
        writer.write_all(data[at..end].to_vec()).await.0.unwrap();
        at = end;
        if rng.percent(50) {
            sleep(Duration::from_micros(rng.below(1000))).await;
        }
    }
}

/// Trickles `data` from `writer` to `reader`, reading under random deadlines of 0 to 800 µs;
/// checks every byte arrived and the stream still reads, and returns how many reads timed out.
async fn storm(
    what: &str,
    mut reader: impl AsyncReadRent,
    writer: impl AsyncWriteRent + 'static,
    data: &[u8],
    rng: &mut Xorshift,
) -> usize {
    let sending = coring::spawn(trickle(writer, data.to_vec(), rng.next_u64()));
    let mut received = Vec::with_capacity(TOTAL);
    let (mut timed_out, mut late) = (0, 0);
    while received.len() < TOTAL {
        let limit = Duration::from_micros(rng.below(800));
        let buf = Vec::with_capacity(1 + rng.up_to(127));
        let start = Instant::now();
        let (n, buf) = timeout_op(limit, reader.read(buf)).await;
        match n {
            Ok(0) => panic!("{what}: end of stream after {} bytes", received.len()),
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                late += usize::from(start.elapsed() > limit);
            }
            Err(err) if err.kind() == ErrorKind::TimedOut => timed_out += 1,
            Err(err) => panic!(
                "{what}: a read failed after {} bytes: {err}",
                received.len()
            ),
        }
    }
    sending.await.unwrap(); // the writer half is dropped: end of stream follows
    assert!(
        received == data,
        "{what}: the bytes read differ from the bytes written"
    );
    let (n, _) = reader.read(Vec::with_capacity(8)).await;
    assert_eq!(n.unwrap(), 0, "{what}: the stream still reads (to its end)");
    println!("{what}: {timed_out} reads timed out, {late} returned bytes after their deadline");
    timed_out
}

#[test]
fn a_timeout_storm_over_reads_loses_no_byte_and_never_poisons_the_stream() {
    let _dog = Watchdog::new(120, "timeout storm over reads");
    let mut rng = Xorshift::from_env_or_clock("STORM_SEED");
    let data = rng.bytes(TOTAL);
    coring::block_on(async move {
        let (client, server) = common::tcp_pair().await;
        let (reader, writer) = (server.into_split().0, client.into_split().1);
        let tcp = storm("tcp", reader, writer, &data, &mut rng).await;

        let (a, b) = UnixStream::pair().unwrap();
        let (reader, writer) = (b.into_split().0, a.into_split().1);
        let unix = storm("unix", reader, writer, &data, &mut rng).await;

        assert!(
            tcp > 100 && unix > 100,
            "too few reads timed out ({tcp}, {unix}): no storm"
        );
    });
}
