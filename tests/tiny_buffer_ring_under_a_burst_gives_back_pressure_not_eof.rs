//! A buffer ring of 2 or 4 small buffers, read by a slow consumer while a peer blasts 4 MiB at it
//! (docs/HAZARDS.md H7): the ring runs dry again and again, and the kernel ends the multishot
//! receive with `ENOBUFS` each time. That must be back-pressure: the stream waits for buffers to
//! come back and re-arms. The reader must see every byte, in order, with no error and no `None`
//! before the peer really closed; and once it is done the ring is full again.
//!
//! The consumer keeps the `RingBuf`s it got for a while (up to all but one of the ring's buffers,
//! sometimes all of them) before checking and dropping them, as a slow parser would.

use coring::buf::{BufRing, RingBuf};
use coring::net::TcpStream;
use coring::time::sleep;
use coring::Runtime;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOTAL: usize = 4 << 20;

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

/// The byte at position `i` of the stream: a period (251, prime) that no buffer size divides, so
/// a lost, repeated or reordered buffer shows.
fn byte_at(i: usize) -> u8 {
    (i % 251) as u8
}

/// A peer on a plain thread that writes `TOTAL` bytes as fast as the socket takes them, then
/// closes. Returns the coring side of the connection.
fn blasting_peer() -> (std::net::TcpStream, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let data: Vec<u8> = (0..TOTAL).map(byte_at).collect();
        // Uneven writes, some tiny, some large.
        let mut at = 0;
        let mut step = 1;
        while at < TOTAL {
            let end = (at + step).min(TOTAL);
            stream.write_all(&data[at..end]).unwrap();
            at = end;
            step = (step * 7 + 3) % 200_000 + 1;
        }
        // Dropping the stream closes it: the reader's end of file.
    });
    (std::net::TcpStream::connect(addr).unwrap(), peer)
}

fn check_and_drop(held: &mut Vec<RingBuf>, received: &mut usize) {
    for chunk in held.drain(..) {
        for (k, &b) in chunk.iter().enumerate() {
            assert_eq!(
                b,
                byte_at(*received + k),
                "byte {} is wrong: lost, repeated or reordered data",
                *received + k
            );
        }
        *received += chunk.len();
    }
}

fn run(entries: u16, buf_size: usize) {
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        let ring = BufRing::new(entries, buf_size).unwrap();
        let (std_stream, peer) = blasting_peer();
        let stream = TcpStream::from_std(std_stream).unwrap();
        let pushed_before = runtime.metrics().sqes_submitted;
        let started = Instant::now();

        let mut chunks = stream.recv_stream(&ring);
        let mut held: Vec<RingBuf> = Vec::new();
        let mut received = 0;
        let (mut items, mut stalls) = (0u64, 0u64);
        loop {
            // Holding every buffer and asking for more would wait forever (nothing can arrive
            // without a buffer): a reader must give some back first, as this one does.
            if held.len() == usize::from(entries) {
                check_and_drop(&mut held, &mut received);
            }
            match chunks.next().await {
                None => break,
                Some(Err(err)) => panic!(
                    "recv_stream failed after {received} bytes (ring of {entries} x \
                     {buf_size}): {err}"
                ),
                Some(Ok(chunk)) => {
                    assert!(!chunk.is_empty());
                    held.push(chunk);
                }
            }
            items += 1;
            // Slow processing: every few items, sit on what we hold while the peer keeps
            // sending, so the ring runs dry.
            if items % 8 == 0 {
                stalls += 1;
                sleep(Duration::from_micros(100 + (items % 7) * 200)).await;
            }
            if items % 5 == 0 {
                check_and_drop(&mut held, &mut received);
            }
        }
        check_and_drop(&mut held, &mut received);
        assert_eq!(
            received, TOTAL,
            "the stream ended early (a false end of file) or delivered extra bytes"
        );
        // After the end of file the stream stays ended.
        assert!(chunks.next().await.is_none());
        drop(chunks);
        peer.join().unwrap();

        let arms = runtime.metrics().sqes_submitted - pushed_before;
        eprintln!(
            "ring {entries} x {buf_size} B: {TOTAL} bytes in {items} chunks, {stalls} stalls, \
             {arms} entries pushed (receive arms + cancels), {:?}",
            started.elapsed()
        );
        // The receive had to be re-armed after running dry: otherwise nothing was tested.
        // (On epoll nothing is pushed to a kernel ring: the stalls above count the dry ring.)
        let on_uring = runtime.backend() == coring::Backend::IoUring;
        assert!(
            arms > 1 || (!on_uring && stalls > 0),
            "the multishot receive never ended: the ring never ran dry"
        );
        assert_eq!(
            ring.available(),
            ring.capacity(),
            "buffers did not all come back"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while runtime.metrics().ops_in_flight > 0 {
            assert!(Instant::now() < deadline, "an op is still in flight");
            sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(ring.available(), ring.capacity());
    });
}

#[test]
fn tiny_buffer_ring_under_a_burst_gives_back_pressure_not_eof() {
    let done = watchdog(Duration::from_secs(120));
    run(2, 512);
    run(2, 4096);
    run(4, 1024);
    run(4, 16 * 1024);
    done.store(true, Ordering::SeqCst);
}
