//! Zero-copy buffers whose operation was dropped mid-flight go back where they belong exactly
//! once, and only after the kernel is done with them (docs/ARCHITECTURE.md invariant 2, docs/HAZARDS.md
//! H5, H7, H8):
//!
//! * registered buffers in `read_fixed`/`write_fixed` dropped by a timeout stay checked out
//!   while the op is in flight, then return to the pool once (`returns()` grows by exactly the
//!   number of buffers, `available()` is back to the capacity, never above);
//! * ring buffers picked by a `recv_stream` that is dropped mid-stream, while data keeps coming,
//!   all return to the ring (`available()` back to the capacity once the runtime reaped the
//!   multishot's last completion, never above it);
//! * a `send_zc` dropped mid-flight keeps its buffer until the notification: the buffer's `Drop`
//!   never runs while the op is in flight, and runs exactly once.
//!
//! One test per file: the counters are global, and tests in one binary run in parallel.

mod common;

use coring::buf::{BufRing, FixedBufPool, IoBuf};
use coring::net::{TcpListener, TcpStream};
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fails the process if `done` is not set within `limit`.
fn watchdog(limit: Duration) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        while waited < limit {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(step);
            waited += step;
        }
        eprintln!("watchdog: the test did not finish within {limit:?}");
        std::process::exit(101);
    });
    done
}

/// Waits, letting the runtime turn, until no op is in flight; checks `invariant` at every step.
async fn reap(runtime: &Runtime, what: &str, mut invariant: impl FnMut()) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        invariant();
        if runtime.metrics().ops_in_flight == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{what}: ops never finished");
        sleep(Duration::from_millis(1)).await;
    }
    // One more turn: the data of the last ops is dropped at the end of the turn that reaped them.
    sleep(Duration::from_millis(2)).await;
    invariant();
}

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = coring::spawn(async move { TcpStream::connect(addr).await });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap().unwrap(), server)
}

/// A coring stream connected to a plain socket the test controls synchronously.
fn std_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    (TcpStream::from_std(ours).unwrap(), peer)
}

async fn fixed_buffers(runtime: &Runtime) {
    const COUNT: usize = 4;
    let pool = FixedBufPool::new(COUNT, 64 * 1024).unwrap();
    let (client, server) = pair().await;
    let returns_at_start = pool.returns();

    // 1. Reads waiting for data that never comes, dropped by a timeout: every buffer is in one.
    let reads = (0..COUNT).map(|_| {
        let buf = pool.try_take().unwrap();
        let server = &server;
        async move { timeout(Duration::from_millis(20), server.read_fixed(buf)).await }
    });
    for r in coring::task::join_all(reads).await {
        assert!(r.is_err(), "nothing was sent, yet a read_fixed finished");
    }
    // The kernel still has the reads (their cancels go out with the next submission).
    assert_eq!(
        pool.available(),
        0,
        "a buffer came back while its read was in flight"
    );
    assert_eq!(pool.returns(), returns_at_start);
    reap(runtime, "dropped read_fixed", || {
        assert!(pool.available() <= COUNT, "a buffer came back twice");
        if runtime.metrics().ops_in_flight > 0 {
            assert_eq!(
                pool.returns(),
                returns_at_start,
                "returned before the final CQE"
            );
        }
    })
    .await;
    assert_eq!(pool.available(), COUNT);
    assert_eq!(
        pool.returns() - returns_at_start,
        COUNT as u64,
        "returned != once each"
    );

    // 2. Reads dropped as data is already there: the read and its cancel are submitted together
    //    and the read usually wins. Whatever wins, each buffer comes back once.
    let returns = pool.returns();
    for i in 0..COUNT {
        client.write_all(vec![i as u8; 100]).await.0.unwrap();
        sleep(Duration::from_millis(2)).await;
        let buf = pool.try_take().unwrap();
        match timeout(Duration::ZERO, server.read_fixed(buf)).await {
            Err(_) => {} // dropped in flight
            // An earlier dropped read took bytes: the stream refuses reads, buffer handed back.
            Ok((Err(err), buf)) if err.to_string().contains("byte stream has a gap") => drop(buf),
            Ok((result, _)) => panic!("a zero timeout should drop the read, got {result:?}"),
        }
    }
    reap(runtime, "read_fixed dropped with data pending", || {
        assert!(pool.available() <= COUNT, "a buffer came back twice");
    })
    .await;
    assert_eq!(pool.available(), COUNT);
    assert_eq!(pool.returns() - returns, COUNT as u64);

    // 3. Writes stuck on a full socket (nobody reads), dropped by a timeout. The loopback
    //    socket pair absorbs several MiB first (send and receive buffers), so keep writing
    //    until a few writes were dropped in flight.
    let returns = pool.returns();
    let (mut writes, mut dropped_writes) = (0u64, 0);
    while dropped_writes < 8 {
        assert!(writes < 4096, "256 MiB went into a socket nobody reads?");
        // Buffers of dropped writes still in flight are not back yet: wait for one.
        let mut buf = pool.take().await;
        buf.extend_from_slice(&vec![0x5a; 64 * 1024]);
        writes += 1;
        if timeout(Duration::from_millis(5), client.write_fixed(buf))
            .await
            .is_err()
        {
            dropped_writes += 1;
        }
    }
    drop(server); // the peer goes away: the stuck writes end.
    reap(runtime, "dropped write_fixed", || {
        assert!(pool.available() <= COUNT, "a buffer came back twice");
    })
    .await;
    assert_eq!(pool.available(), COUNT);
    assert_eq!(
        pool.returns() - returns,
        writes,
        "each write's buffer must come back once"
    );
    eprintln!(
        "fixed buffers: {dropped_writes} of {writes} writes dropped mid-flight; all returned once"
    );
}

async fn ring_buffers(runtime: &Runtime) {
    const ENTRIES: u16 = 8;
    let ring = BufRing::new(ENTRIES, 1024).unwrap();
    let capacity = usize::from(ENTRIES);

    for round in 0..20u32 {
        let (stream, mut peer) = std_pair();
        // The peer keeps sending while the stream is dropped.
        let writer = std::thread::spawn(move || {
            let chunk = vec![round as u8; 700];
            let mut sent = 0;
            while peer.write_all(&chunk).is_ok() {
                sent += chunk.len();
                if sent > 4 << 20 {
                    break;
                }
            }
        });
        let returns = ring.returns();
        let mut chunks = stream.recv_stream(&ring);
        let mut held = Vec::new();
        // Take a few chunks; keep some, drop others.
        for i in 0..(round % 5 + 1) {
            let chunk = timeout(Duration::from_secs(5), chunks.next())
                .await
                .expect("no data arrived")
                .expect("the stream ended")
                .expect("recv failed");
            if i % 2 == 0 {
                held.push(chunk);
            }
        }
        // Drop the stream with its multishot receive armed and data arriving; on odd rounds
        // first let completions queue up unread.
        if round % 2 == 1 {
            sleep(Duration::from_millis(2)).await;
        }
        drop(chunks);
        reap(runtime, "dropped recv_stream", || {
            assert!(
                ring.available() <= capacity,
                "a ring buffer came back twice"
            );
        })
        .await;
        assert_eq!(
            ring.available(),
            capacity - held.len(),
            "round {round}: only the buffers the reader holds may be missing"
        );
        let kept = held.len();
        drop(held);
        assert_eq!(ring.available(), capacity, "round {round}: buffers lost");
        eprintln!(
            "ring round {round}: {} buffer returns ({kept} held by the reader)",
            ring.returns() - returns
        );
        // The writer sees the connection close (the close goes out with the next turn, so
        // let the runtime turn rather than block it in `join`).
        drop(stream);
        while !writer.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
        writer.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while runtime.metrics().ops_in_flight > 0 {
        assert!(Instant::now() < deadline);
        sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(ring.available(), capacity);
}

/// How many `CountedBuf`s have been dropped.
static ZC_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A heap buffer that counts its drops.
struct CountedBuf(Vec<u8>);

impl Drop for CountedBuf {
    fn drop(&mut self) {
        ZC_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: delegates to the Vec, whose heap bytes stay put when the wrapper moves.
unsafe impl IoBuf for CountedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.0.len()
    }
    fn bytes_total(&self) -> usize {
        self.0.capacity()
    }
}

async fn send_zc_buffers(runtime: &Runtime) {
    // Several states a dropped send_zc can be in: not yet answered (cancelled), or its bytes
    // sent and only the notification awaited. The peer reads nothing at first, so big sends
    // stay stuck on a full socket, and bytes already queued keep the pages referenced.
    let mut dropped = 0;
    for (round, wait) in [0u64, 1, 3, 10, 30].into_iter().enumerate() {
        let (stream, mut peer) = std_pair();
        let before = ZC_DROPS.load(Ordering::SeqCst);
        let size = (1 << 20) << (round % 3);
        let r = timeout(
            Duration::from_millis(wait),
            stream.send_zc(CountedBuf(vec![7u8; size])),
        )
        .await;
        match r {
            Ok((n, buf)) => {
                // Finished in time (the socket took it all): the buffer came back with the result.
                n.unwrap();
                drop(buf);
                assert_eq!(ZC_DROPS.load(Ordering::SeqCst), before + 1);
                continue;
            }
            Err(_) => dropped += 1,
        }
        // The future is gone; the runtime owns the buffer while the kernel may read it.
        let sampled = || {
            (
                ZC_DROPS.load(Ordering::SeqCst) - before,
                runtime.metrics().ops_in_flight,
            )
        };
        let (drops, in_flight) = sampled();
        assert_eq!(
            drops, 0,
            "send_zc buffer freed right after the future was dropped"
        );
        assert!(in_flight > 0, "the dropped send_zc is not in flight");
        // Hold the peer still for a while: nothing may be freed meanwhile.
        for _ in 0..10 {
            sleep(Duration::from_millis(1)).await;
            let (drops, in_flight) = sampled();
            assert!(
                drops == 0 || in_flight == 0,
                "the buffer was freed while its send_zc was in flight"
            );
        }
        // Now drain the peer: the send ends, the kernel lets go, the notification comes.
        let reader = std::thread::spawn(move || {
            let mut sink = vec![0u8; 1 << 16];
            let mut total = 0;
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            while let Ok(n @ 1..) = peer.read(&mut sink) {
                total += n;
            }
            total
        });
        reap(runtime, "dropped send_zc", || {
            let (drops, in_flight) = sampled();
            assert!(drops <= 1, "the buffer was dropped twice");
            assert!(
                drops == 0 || in_flight == 0,
                "the buffer was freed before its notification"
            );
        })
        .await;
        assert_eq!(sampled().0, 1, "the buffer must be dropped exactly once");
        drop(stream);
        while !reader.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
        let read = reader.join().unwrap();
        eprintln!("send_zc round {round}: dropped after {wait} ms; the peer then read {read} B");
    }
    assert!(
        dropped > 0,
        "no send_zc was dropped mid-flight: nothing was tested"
    );
}

#[test]
fn abandoned_zero_copy_buffers_return_exactly_once() {
    if common::skip::io_uring_only("abandoned_zero_copy_buffers_return_exactly_once") {
        return;
    }
    let done = watchdog(Duration::from_secs(90));
    let runtime = Runtime::new().unwrap();
    runtime.block_on(fixed_buffers(&runtime));
    runtime.block_on(ring_buffers(&runtime));
    runtime.block_on(send_zc_buffers(&runtime));
    assert_eq!(runtime.metrics().ops_in_flight, 0);
    done.store(true, Ordering::SeqCst);
}
