//! Issue 19 adversary: a server reading through `BufReader<BufWriter<TcpStream>>` answers each
//! pipelined request with an answer of a random size, from empty (a zero-length write) to many
//! times the `BufWriter`'s capacity (written straight through, behind the buffered bytes), in one
//! or several `write_all`s, never flushing. The peer pipelines a window of requests and reads
//! the answers, full duplex. Every answer byte must arrive once, in order. Both backends.
//! Replay with `SEED=...`.

mod common;

use common::{within, Xorshift};
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpListener;
use coring::Backend;
use std::io::{Read, Write};
use std::time::Duration;

const REQUESTS: usize = 400;

/// The answer to request `i`: its size and its bytes follow from the seed.
fn answer(seed: u64, i: usize) -> Vec<u8> {
    let mut rng = Xorshift::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
    let len = match rng.below(10) {
        0 => 0,
        1..=6 => rng.below(200) as usize,
        7 | 8 => rng.below(9000) as usize,
        _ => rng.below(100_000) as usize,
    };
    rng.bytes(len)
}

fn run(backend: Backend, seed: u64) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let listener = runtime
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let mut rng = Xorshift::new(seed);
            for i in 0..REQUESTS {
                writer.write_all(format!("{i}\n").as_bytes()).unwrap();
                if rng.percent(10) {
                    std::thread::sleep(Duration::from_micros(rng.below(2000)));
                }
            }
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut reader = stream;
        for i in 0..REQUESTS {
            let want = answer(seed, i);
            let mut got = vec![0; want.len()];
            reader
                .read_exact(&mut got)
                .unwrap_or_else(|err| panic!("{backend:?} seed {seed}: answer {i}: {err}"));
            assert!(got == want, "{backend:?} seed {seed}: answer {i} differs");
        }
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "{backend:?}: {} bytes too many",
            rest.len()
        );
        sender.join().unwrap();
    });
    runtime.block_on(async {
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = BufReader::new(BufWriter::new(stream));
        let mut rng = Xorshift::new(seed ^ 1);
        while let Some(line) = conn.next_line(16).await.unwrap() {
            let i: usize = std::str::from_utf8(line).unwrap().trim().parse().unwrap();
            let mut out = answer(seed, i);
            // In one piece, or cut in two (the tail may be empty).
            if rng.percent(50) {
                let cut = rng.below(out.len() as u64 + 1) as usize;
                let tail = out.split_off(cut);
                conn.write_all(out).await.0.unwrap();
                conn.write_all(tail).await.0.unwrap();
            } else {
                conn.write_all(out).await.0.unwrap();
            }
            let (n, _) = conn.write(Vec::new()).await;
            assert_eq!(n.unwrap(), 0, "a zero-length write");
        }
        conn.shutdown().await.unwrap();
    });
    peer.join().unwrap();
    println!("{backend:?}: {REQUESTS} answers intact");
}

#[test]
fn answers_of_every_size_through_a_buffered_stream_arrive_whole_and_in_order() {
    let seed = Xorshift::from_env_or_clock("SEED").next_u64();
    for backend in common::backends() {
        within(Duration::from_secs(120), move || run(backend, seed));
    }
}
