//! Issue 19 adversary: a short stream read whose bytes were already there, in a loop with work
//! pending, makes the next read try at once instead of `POLL_FIRST`. That choice must never cost
//! a wake: echo servers on plain `TcpStream::read` (4 KiB reads, so every read is short) share
//! a runtime with a task that keeps the loop busy, while peers send in pieces with pauses of
//! 0-500 µs between them (bytes landing just after a short read, or before the next is
//! submitted), then half-close (or reset, every other peer). Every byte must be echoed, in
//! order; a half-closed peer's server must see the end; a reset one an error or the end; and
//! no reader may hang. On both backends.

mod common;

use common::{within, Xorshift};
use coring::buf::IoBuf;
use coring::Backend;
use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

const PEERS: u64 = 6;
const MESSAGES: usize = 300;

fn peer(addr: std::net::SocketAddr, seed: u64) {
    let mut rng = Xorshift::new(seed);
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    for m in 0..MESSAGES {
        let len = rng.up_to(200);
        let message = rng.bytes(len);
        let cut = rng.below(message.len() as u64 + 1) as usize;
        stream.write_all(&message[..cut]).unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(500)));
        stream.write_all(&message[cut..]).unwrap();
        let mut echo = vec![0; message.len()];
        stream
            .read_exact(&mut echo)
            .unwrap_or_else(|err| panic!("peer {seed}: echo of message {m}: {err}"));
        assert_eq!(echo, message, "peer {seed}: message {m}");
        if rng.percent(10) {
            std::thread::sleep(Duration::from_micros(rng.below(500)));
        }
    }
    if seed % 2 == 0 {
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "peer {seed}: bytes after the last echo");
    } else {
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
}

async fn echo(stream: coring::net::TcpStream, seed: u64) {
    let mut buf = vec![0; 4096];
    loop {
        let (result, back) = stream.read(buf).await;
        match result {
            Ok(0) => return,
            Ok(n) => {
                let (written, back) = stream.write_all(back.slice(..n)).await;
                buf = back.into_inner();
                if let Err(err) = written {
                    assert!(seed % 2 == 1, "peer {seed}: echo failed: {err}");
                    return;
                }
            }
            Err(err) => {
                assert!(
                    seed % 2 == 1,
                    "peer {seed} half-closed, its read failed: {err}"
                );
                return;
            }
        }
    }
}

fn run(backend: Backend, seed: u64) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.block_on(async {
        let done = Rc::new(Cell::new(false));
        let spin = done.clone();
        // Keeps the loop busy: the kernel is entered without sleeping, so reads whose bytes
        // were there count as answered at once.
        let spinner = coring::spawn(async move {
            while !spin.get() {
                coring::task::yield_now().await;
            }
        });
        let mut peers = Vec::new();
        let mut servers = Vec::new();
        for p in 0..PEERS {
            let peer_seed = seed.wrapping_add(p) & !1 | (p & 1);
            peers.push(std::thread::spawn(move || peer(addr, peer_seed)));
            let stream = coring::net::TcpStream::from_std(listener.accept().unwrap().0).unwrap();
            servers.push(coring::spawn(echo(stream, peer_seed)));
        }
        for server in servers {
            server.await.unwrap();
        }
        done.set(true);
        spinner.await.unwrap();
        for peer in peers {
            peer.join().unwrap();
        }
    });
    println!("{backend:?}: {PEERS} peers x {MESSAGES} messages echoed");
}

#[test]
fn a_stream_reader_in_a_busy_loop_wakes_for_every_byte_arriving_after_a_short_read() {
    let seed = Xorshift::from_env_or_clock("SEED").next_u64();
    for backend in common::backends() {
        within(Duration::from_secs(240), move || run(backend, seed));
    }
}
