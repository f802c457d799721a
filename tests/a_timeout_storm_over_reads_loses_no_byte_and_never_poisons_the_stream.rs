//! Thousands of reads under very short `timeout_op` deadlines (zero included) while a writer
//! trickles bytes: every byte arrives once and in order, no read fails with anything but
//! `TimedOut`, and the stream is never poisoned. Reads whose deadline passed with bytes already
//! in their buffer hand them back. Done over TCP on loopback and over a Unix stream pair.

mod common;

use common::{Watchdog, Xorshift};
use coring::net::UnixStream;
use coring::time::{sleep, timeout_op, Instant};
use std::future::Future;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

const TOTAL: usize = 64 * 1024;

/// Reads `TOTAL` bytes through `read`, each read under a random deadline of 0 to 800 µs;
/// returns (bytes, reads that timed out, reads that returned bytes after their deadline).
async fn storm<R, F>(read: R, rng: &mut Xorshift) -> (Vec<u8>, usize, usize)
where
    R: Fn(Vec<u8>) -> F,
    F: Future<Output = (std::io::Result<usize>, Vec<u8>)>,
{
    let mut received = Vec::with_capacity(TOTAL);
    let (mut timed_out, mut late) = (0, 0);
    while received.len() < TOTAL {
        let limit = Duration::from_micros(rng.below(800));
        let buf = Vec::with_capacity(1 + rng.up_to(127));
        let start = Instant::now();
        let (n, buf) = timeout_op(limit, read(buf)).await;
        match n {
            Ok(0) => panic!("end of stream after {} bytes", received.len()),
            Ok(n) => {
                assert_eq!(buf.len(), n);
                received.extend_from_slice(&buf[..n]);
                if start.elapsed() > limit {
                    late += 1;
                }
            }
            Err(err) if err.kind() == ErrorKind::TimedOut => timed_out += 1,
            Err(err) => panic!("a read failed with {err} after {} bytes", received.len()),
        }
    }
    (received, timed_out, late)
}

/// Writes `data` in pieces of 1 to 64 bytes, pausing up to 1 ms between them.
async fn trickle<W, F>(write: W, data: Vec<u8>, seed: u64)
where
    W: Fn(Vec<u8>) -> F,
    F: Future<Output = (std::io::Result<()>, Vec<u8>)>,
{
    let mut rng = Xorshift::new(seed);
    let mut at = 0;
    while at < data.len() {
        let end = (at + 1 + rng.up_to(63)).min(data.len());
        write(data[at..end].to_vec()).await.0.unwrap();
        at = end;
        if rng.percent(50) {
            sleep(Duration::from_micros(rng.below(1000))).await;
        }
    }
}

#[test]
fn a_timeout_storm_over_reads_loses_no_byte_and_never_poisons_the_stream() {
    let _dog = Watchdog::new(120, "timeout storm over reads");
    let mut rng = Xorshift::from_env_or_clock("STORM_SEED");
    let seed = rng.next_u64();
    let data = rng.bytes(TOTAL);
    coring::block_on(async move {
        // TCP over loopback.
        let (client, server) = common::tcp_pair().await;
        let (client, server) = (Rc::new(client), Rc::new(server));
        let writer = coring::spawn(trickle(
            move |b| {
                let c = client.clone();
                async move { c.write_all(b).await }
            },
            data.clone(),
            seed,
        ));
        let read = |b| {
            let s = server.clone();
            async move { s.read(b).await }
        };
        let (got, timed_out, late) = storm(read, &mut rng).await;
        writer.await.unwrap();
        assert!(
            got == data,
            "TCP: the bytes read differ from the bytes written"
        );
        println!("tcp: {timed_out} reads timed out, {late} returned bytes after their deadline");
        assert!(
            timed_out > 100,
            "only {timed_out} reads timed out: no storm"
        );
        let (n, _) = server.read(Vec::with_capacity(8)).await;
        assert_eq!(n.unwrap(), 0, "the stream still reads (end of stream)");

        // A Unix stream pair.
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Rc::new(a), Rc::new(b));
        let writer = coring::spawn(trickle(
            move |buf| {
                let a = a.clone();
                async move { a.write_all(buf).await }
            },
            data.clone(),
            seed ^ 1,
        ));
        let read = |buf| {
            let b = b.clone();
            async move { b.read(buf).await }
        };
        let (got, timed_out, late) = storm(read, &mut rng).await;
        writer.await.unwrap();
        assert!(
            got == data,
            "Unix: the bytes read differ from the bytes written"
        );
        println!("unix: {timed_out} reads timed out, {late} returned bytes after their deadline");
        assert!(
            timed_out > 100,
            "only {timed_out} reads timed out: no storm"
        );
    });
}
