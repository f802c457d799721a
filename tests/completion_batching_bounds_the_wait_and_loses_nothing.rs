//! `Builder::completion_batch`: a waiting `io_uring_enter` asks the kernel for a batch of
//! completions but returns after `max_delay` with whatever came. A lone completion is held no
//! longer than that (and really is held: the kernel setting took effect), a timer due sooner is
//! not held at all, a wake-up from another worker gets through, and many connections echo every
//! byte intact.

mod common;

use common::{checksum, within, Xorshift};
use coring::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_lone_completion_waits_for_max_delay_and_no_longer() {
    if common::skip::io_uring_only("a_lone_completion_waits_for_max_delay_and_no_longer") {
        return;
    }
    within(LIMIT, || {
        let max_delay = Duration::from_millis(40);
        let runtime = batched(max_delay);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            for _ in 0..3 {
                stream.write_all(b"x").unwrap();
                let mut echo = [0u8; 1];
                stream.read_exact(&mut echo).unwrap();
            }
        });
        let elapsed: Vec<Duration> = runtime.block_on(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut elapsed = Vec::new();
            for _ in 0..3 {
                let start = Instant::now();
                let (n, buf) = stream.read(Vec::with_capacity(8)).await;
                assert_eq!(n.unwrap(), 1);
                elapsed.push(start.elapsed());
                stream.write_all(buf).await.0.unwrap();
            }
            elapsed
        });
        peer.join().unwrap();
        for took in elapsed {
            // One completion of the 64 asked for: the kernel keeps the wait going until the
            // minimum wait has passed (a lower bound, which a slow machine cannot break)...
            assert!(took >= max_delay - Duration::from_millis(2), "{took:?}");
            // ...and then returns with it instead of waiting for the rest of the batch.
            assert!(took < Duration::from_secs(10), "{took:?}");
        }
    });
}

#[test]
fn a_ping_pong_exchange_waits_at_most_twice_max_delay() {
    within(LIMIT, || {
        let max_delay = Duration::from_millis(100);
        let runtime = batched(max_delay);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The client is a plain thread: only the server's waits are batched.
        let client = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut round_trips = Vec::new();
            for _ in 0..4 {
                let start = Instant::now();
                stream.write_all(b"x").unwrap();
                let mut echo = [0u8; 1];
                stream.read_exact(&mut echo).unwrap();
                round_trips.push(start.elapsed());
                // Less than max_delay between messages, as in a chatty protocol.
                std::thread::sleep(Duration::from_millis(10));
            }
            round_trips
        });
        runtime.block_on(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            for _ in 0..4 {
                let (n, buf) = stream.read(Vec::with_capacity(8)).await;
                assert_eq!(n.unwrap(), 1);
                stream.write_all(buf).await.0.unwrap();
            }
        });
        // As documented: the echo's write completion and then the next request's read
        // completion may each be held up to max_delay, never longer. The median of the round
        // trips is checked: on a shared 2-core machine one exchange now and then loses the CPU
        // for 100+ ms (a full-suite run saw 319 ms once), which says nothing about the batching.
        let mut round_trips = client.join().unwrap();
        round_trips.sort();
        let median = round_trips[round_trips.len() / 2];
        assert!(
            median < 2 * max_delay + max_delay / 2,
            "the median round trip took {median:?} with max_delay {max_delay:?} ({round_trips:?})"
        );
    });
}

fn batched(max_delay: Duration) -> coring::Runtime {
    coring::Builder::new()
        .completion_batch(64, max_delay)
        .build()
        .unwrap()
}

/// A loopback peer that accepts one connection, waits `delay`, then sends one byte and returns
/// when it sent it.
fn one_byte_after(delay: Duration) -> (SocketAddr, JoinHandle<Instant>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        std::thread::sleep(delay);
        let sent = Instant::now();
        stream.write_all(b"x").unwrap();
        sent
    });
    (addr, peer)
}

#[test]
fn a_completion_after_max_delay_is_not_held_again() {
    within(LIMIT, || {
        let max_delay = Duration::from_secs(1);
        let runtime = batched(max_delay);
        // The connect completes at once but is held up to max_delay; the read's wait starts
        // after that and its minimum wait runs out well before the byte comes.
        let (addr, peer) = one_byte_after(3 * max_delay);
        let arrived = runtime.block_on(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (n, _) = stream.read(Vec::with_capacity(8)).await;
            assert_eq!(n.unwrap(), 1);
            Instant::now()
        });
        let sent = peer.join().unwrap();
        let took = arrived.duration_since(sent);
        // The minimum wait ran out while nothing had come: the first completion ends the wait
        // at once instead of being held for another max_delay.
        assert!(took < max_delay - Duration::from_millis(100), "{took:?}");
    });
}

#[test]
fn an_idle_runtime_does_not_wake_every_max_delay() {
    within(LIMIT, || {
        let runtime = batched(Duration::from_millis(1));
        let (addr, peer) = one_byte_after(Duration::from_millis(300));
        let stream = runtime.block_on(async move { TcpStream::connect(addr).await.unwrap() });
        let before = runtime.metrics().enters;
        let n = runtime.block_on(async { stream.read(Vec::with_capacity(8)).await.0 });
        let enters = runtime.metrics().enters - before;
        peer.join().unwrap();
        assert_eq!(n.unwrap(), 1);
        // 300 ms of waiting for one completion: a few waits, not one per millisecond.
        assert!(enters < 30, "{enters} io_uring_enter calls while idle");
    });
}

#[test]
fn a_timer_due_before_max_delay_is_not_held() {
    within(LIMIT, || {
        let runtime = batched(Duration::from_secs(5));
        let took = runtime.block_on(async {
            let start = Instant::now();
            coring::time::sleep(Duration::from_millis(10)).await;
            start.elapsed()
        });
        assert!(took >= Duration::from_millis(10), "{took:?}");
        assert!(
            took < Duration::from_secs(4),
            "the sleep waited for the batch: {took:?}"
        );
    });
}

#[test]
fn a_wake_from_another_worker_gets_through() {
    within(LIMIT, || {
        let runtime = coring::Builder::new()
            .workers(2)
            .completion_batch(64, Duration::from_millis(20))
            .build_multi()
            .unwrap();
        let sum: u64 = runtime.block_on(async {
            let other = coring::runtime::workers()[1].clone();
            let mut sum = 0;
            for n in 0..50u64 {
                sum += other.spawn(async move { n * 2 }).await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..50u64).map(|n| n * 2).sum());
    });
}

async fn echo(stream: TcpStream) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let (n, back) = stream.read(buf).await;
        if n.unwrap() == 0 {
            return;
        }
        let (written, back) = stream.write_all(back).await;
        written.unwrap();
        buf = back;
    }
}

#[test]
fn two_hundred_connections_echo_every_byte_under_batching() {
    within(LIMIT, || {
        let runtime = coring::Builder::new()
            .completion_batch(32, Duration::from_micros(50))
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            coring::spawn({
                let listener = listener.clone();
                async move {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        coring::spawn(echo(stream));
                    }
                }
            });
            let clients: Vec<_> = (0..200u64)
                .map(|id| {
                    coring::spawn(async move {
                        let mut rng = Xorshift::new(id + 7);
                        let stream = TcpStream::connect(addr).await.unwrap();
                        for _ in 0..20 {
                            let len = 1 + rng.up_to(2000);
                            let message = rng.bytes(len);
                            let (sent, message) = stream.write_all(message).await;
                            sent.unwrap();
                            let mut back = Vec::with_capacity(message.len());
                            while back.len() < message.len() {
                                let (n, chunk) =
                                    stream.read(Vec::with_capacity(message.len())).await;
                                let n = n.unwrap();
                                assert_ne!(n, 0, "connection {id} closed early");
                                back.extend_from_slice(&chunk[..n]);
                            }
                            assert_eq!(checksum(&back), checksum(&message), "connection {id}");
                            assert_eq!(back, message, "connection {id}");
                        }
                    })
                })
                .collect();
            for client in clients {
                client.await.unwrap();
            }
        });
        let stats = runtime.metrics();
        assert!(stats.completions >= 200 * 20 * 2, "{stats:?}");
    });
}
