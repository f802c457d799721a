//! Issue 19 adversary: many connections read through `BufReader<BufWriter<TcpStream>>` on a
//! ring of eight 64-byte buffers (lines span buffers, the ring runs dry: ENOBUFS back-pressure,
//! many queued multishot results), answering without a flush, while half their `next_line`
//! calls are dropped by short timeouts, also while they send the answers held (the writer keeps
//! such a send in flight for its next call). Peers send lines of random lengths in random
//! pieces with random pauses, full duplex. Every answer must come back, in order, intact; on
//! both backends. Replay a failure with `SEED=...`.

mod common;

use common::{within, Xorshift};
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpListener;
use coring::Backend;
use std::io::{BufRead, Write};
use std::time::Duration;

const CONNECTIONS: usize = 12;
const LINES: usize = 150;
const MAX_LINE: usize = 256;

fn lines(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Xorshift::new(seed);
    (0..LINES)
        .map(|_| {
            let len = rng.up_to(MAX_LINE - 1);
            let mut line: Vec<u8> = (0..len - 1).map(|_| b'a' + rng.below(26) as u8).collect();
            line.push(b'\n');
            line
        })
        .collect()
}

fn answer(line: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", line.len()).into_bytes();
    out.extend(line.iter().map(u8::to_ascii_uppercase));
    out
}

fn client(addr: std::net::SocketAddr, seed: u64) {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sent = lines(seed);
    let sender = std::thread::spawn(move || {
        let mut rng = Xorshift::new(seed ^ 0x5eed);
        let all: Vec<u8> = lines(seed).concat();
        let mut at = 0;
        while at < all.len() {
            let n = rng.up_to(300).min(all.len() - at);
            writer.write_all(&all[at..at + n]).unwrap();
            at += n;
            if rng.percent(20) {
                std::thread::sleep(Duration::from_micros(rng.below(1500)));
            }
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut reader = std::io::BufReader::new(stream);
    for (i, line) in sent.iter().enumerate() {
        let mut got = Vec::new();
        reader
            .read_until(b'\n', &mut got)
            .unwrap_or_else(|err| panic!("seed {seed}: answer {i}: {err}"));
        assert_eq!(got, answer(line), "seed {seed}: answer {i}");
    }
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut rest).unwrap();
    assert!(rest.is_empty(), "seed {seed}: bytes after the last answer");
    sender.join().unwrap();
}

async fn serve(stream: coring::net::TcpStream, seed: u64) -> usize {
    let mut rng = Xorshift::new(seed);
    let mut conn = BufReader::new(BufWriter::new(stream));
    let mut answered = 0;
    loop {
        let line = if rng.percent(50) {
            let wait = Duration::from_micros(rng.below(2000));
            match coring::time::timeout(wait, conn.next_line(MAX_LINE)).await {
                Ok(line) => line.map(|line| line.map(answer)),
                Err(_) => continue,
            }
        } else {
            conn.next_line(MAX_LINE).await.map(|line| line.map(answer))
        };
        match line.unwrap_or_else(|err| panic!("server seed {seed}: {err}")) {
            Some(out) => {
                conn.write_all(out).await.0.unwrap();
                answered += 1;
            }
            None => break,
        }
    }
    conn.shutdown().await.unwrap();
    answered
}

fn run(backend: Backend, seed: u64) {
    let runtime = coring::Builder::new()
        .backend(backend)
        .read_buffers(8, 64)
        .build()
        .unwrap();
    let listener = runtime
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..CONNECTIONS as u64)
        .map(|c| std::thread::spawn(move || client(addr, seed + c)))
        .collect();
    let answered = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await.unwrap();
            // Which client this is shows in its first line's seed only; every server task
            // answers whatever it reads, so its own rng drives only the drops.
            tasks.push(coring::spawn(serve(stream, seed ^ tasks.len() as u64)));
        }
        let mut answered = 0;
        for task in tasks {
            answered += task.await.unwrap();
        }
        answered
    });
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(answered, CONNECTIONS * LINES);
    println!("{backend:?}: {answered} lines answered over {CONNECTIONS} connections");
}

#[test]
fn buffered_stream_servers_on_a_tiny_ring_answer_every_line_in_order_through_dropped_reads() {
    let seed = Xorshift::from_env_or_clock("SEED").next_u64();
    for backend in common::backends() {
        within(Duration::from_secs(240), move || run(backend, seed));
    }
}
