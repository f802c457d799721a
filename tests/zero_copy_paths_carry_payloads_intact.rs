//! Random payloads of 1 B to 1 MiB, each framed with its length and a checksum, go through every
//! zero-copy path over real loopback connections, several connections at once per path, and
//! arrive intact and in order (issue 5, item 5):
//!
//! * `write_fixed` → `read_fixed` (registered buffers, one pool shared by all connections);
//! * plain `write_all` → `recv_stream` on a [`BufRing`] of small buffers (a 1 MiB message spans
//!   hundreds of ring buffers);
//! * `send_zc` of an owned `Vec` → plain `read`;
//! * `send_zc` of a registered buffer (the fixed-index variant) → `recv_stream`.
//!
//! A watchdog thread fails the test if the whole thing takes longer than a minute.

use coring::buf::{BufRing, FixedBufPool, IoBuf};
use coring::net::{TcpListener, TcpStream};
use coring::Runtime;
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONNECTIONS: usize = 4;
const MIB: usize = 1 << 20;
const FIXED_SIZE: usize = 64 * 1024;

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

/// xorshift64*: a small deterministic generator, so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// FNV-1a, 64 bit.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Message sizes for one connection: the edges around page and buffer sizes, then random ones
/// (most small, some large), always ending with a full 1 MiB.
fn sizes(rng: &mut Rng) -> Vec<usize> {
    let mut sizes = vec![1, 2, 7, 4095, 4096, 4097, 65535, 65536, 65537];
    for _ in 0..12 {
        sizes.push(match rng.below(4) {
            0 => 1 + rng.below(4096),
            1 => 1 + rng.below(128 * 1024),
            _ => 1 + rng.below(MIB),
        });
    }
    sizes.push(MIB);
    sizes
}

/// The bytes of one connection's stream: per message, `len (u64 LE) | payload | checksum`.
fn framed_stream(seed: u64) -> (Vec<u8>, Vec<u64>) {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut sums = Vec::new();
    for size in sizes(&mut rng) {
        let mut payload = vec![0u8; size];
        rng.fill(&mut payload);
        let sum = checksum(&payload);
        out.extend_from_slice(&(size as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&sum.to_le_bytes());
        sums.push(sum);
    }
    (out, sums)
}

/// Parses received bytes into messages and checks each one's checksum as it completes.
#[derive(Default)]
struct Parser {
    pending: Vec<u8>,
    sums: Vec<u64>,
    total: usize,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8], path: &str) {
        self.total += bytes.len();
        self.pending.extend_from_slice(bytes);
        loop {
            if self.pending.len() < 8 {
                return;
            }
            let len = u64::from_le_bytes(self.pending[..8].try_into().unwrap()) as usize;
            assert!(
                (1..=MIB).contains(&len),
                "{path}: message {} has a corrupt length {len}",
                self.sums.len()
            );
            if self.pending.len() < 8 + len + 8 {
                return;
            }
            let payload = &self.pending[8..8 + len];
            let sum = u64::from_le_bytes(self.pending[8 + len..16 + len].try_into().unwrap());
            assert_eq!(
                checksum(payload),
                sum,
                "{path}: message {} ({len} bytes) arrived corrupted",
                self.sums.len()
            );
            self.sums.push(sum);
            self.pending.drain(..16 + len);
        }
    }

    fn finish(self, expected: &[u64], path: &str) {
        assert!(self.pending.is_empty(), "{path}: a message was cut off");
        assert_eq!(self.sums, expected, "{path}: messages lost or reordered");
    }
}

async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let addr = listener.local_addr().unwrap();
    let client = coring::spawn(async move { TcpStream::connect(addr).await });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap().unwrap(), server)
}

/// Sends `data` through registered buffers: copy a piece in, `write_fixed` until it is all out.
async fn send_fixed(stream: &TcpStream, pool: &FixedBufPool, data: &[u8]) {
    for piece in data.chunks(FIXED_SIZE) {
        let mut buf = pool.take().await;
        buf.extend_from_slice(piece);
        let mut done = 0;
        while done < piece.len() {
            let (n, slice) = stream.write_fixed(buf.slice(done..piece.len())).await;
            buf = slice.into_inner();
            let n = n.expect("write_fixed failed");
            assert!(n > 0, "write_fixed wrote nothing");
            done += n;
        }
    }
}

/// Sends `data` with `send_zc` from owned vectors of random sizes, resending the rest after a
/// short send.
async fn send_zc_vec(stream: &TcpStream, data: &[u8], rng: &mut Rng) {
    let mut at = 0;
    while at < data.len() {
        let end = (at + 1 + rng.below(2 * MIB)).min(data.len());
        let mut buf = data[at..end].to_vec();
        let len = buf.len();
        let mut done = 0;
        while done < len {
            let (n, slice) = stream.send_zc(buf.slice(done..len)).await;
            buf = slice.into_inner();
            let n = n.expect("send_zc failed");
            assert!(n > 0, "send_zc sent nothing");
            done += n;
        }
        at = end;
    }
}

/// Sends `data` with `send_zc` from registered buffers.
async fn send_zc_fixed(stream: &TcpStream, pool: &FixedBufPool, data: &[u8]) {
    for piece in data.chunks(FIXED_SIZE) {
        let mut buf = pool.take().await;
        buf.extend_from_slice(piece);
        let mut done = 0;
        while done < piece.len() {
            let (n, slice) = stream.send_zc(buf.slice(done..piece.len())).await;
            buf = slice.into_inner();
            let n = n.expect("send_zc of a registered buffer failed");
            assert!(n > 0, "send_zc sent nothing");
            done += n;
        }
    }
}

async fn recv_fixed(stream: &TcpStream, pool: &FixedBufPool, parser: &mut Parser) {
    loop {
        let buf = pool.take().await;
        let (n, buf) = stream.read_fixed(buf).await;
        match n.expect("read_fixed failed") {
            0 => return,
            n => parser.feed(&buf[..n], "read_fixed"),
        }
    }
}

async fn recv_plain(stream: &TcpStream, parser: &mut Parser, rng: &mut Rng) {
    loop {
        let cap = 1 + rng.below(256 * 1024);
        let (n, buf) = stream.read(Vec::with_capacity(cap)).await;
        match n.expect("read failed") {
            0 => return,
            n => parser.feed(&buf[..n], "read after send_zc"),
        }
    }
}

async fn recv_ring(stream: &TcpStream, ring: &BufRing, parser: &mut Parser, path: &str) {
    let mut chunks = stream.recv_stream(ring);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("{path}: recv_stream failed: {e}"));
        assert!(!chunk.is_empty(), "{path}: an empty chunk");
        assert!(chunk.len() <= ring.buf_size());
        parser.feed(&chunk, path);
    }
}

#[derive(Clone, Copy, Debug)]
enum Path {
    Fixed,
    Ring,
    ZcVec,
    ZcFixed,
}

#[test]
fn zero_copy_paths_carry_payloads_intact() {
    let done = watchdog(Duration::from_secs(60));
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        // One pool per runtime: shared by senders and receivers of every connection.
        let pool = FixedBufPool::new(64, FIXED_SIZE).unwrap();
        let ring = BufRing::new(64, 4096).unwrap();
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let mut handles = Vec::new();
        let mut seed = 1;
        for path in [Path::Fixed, Path::Ring, Path::ZcVec, Path::ZcFixed] {
            for _ in 0..CONNECTIONS {
                seed += 1;
                let (client, server) = pair(&listener).await;
                let (data, sums) = framed_stream(seed);
                let (pool_tx, pool_rx) = (pool.clone(), pool.clone());
                let ring = ring.clone();
                let name = format!("{path:?} #{seed}");
                let sender = coring::spawn(async move {
                    let mut rng = Rng::new(seed ^ 0xabcdef);
                    match path {
                        Path::Fixed => send_fixed(&client, &pool_tx, &data).await,
                        Path::Ring => client.write_all(data).await.0.expect("write_all failed"),
                        Path::ZcVec => send_zc_vec(&client, &data, &mut rng).await,
                        Path::ZcFixed => send_zc_fixed(&client, &pool_tx, &data).await,
                    }
                    client.shutdown(Shutdown::Write).await.unwrap();
                });
                let receiver = coring::spawn(async move {
                    let mut parser = Parser::default();
                    let mut rng = Rng::new(seed ^ 0x1234);
                    match path {
                        Path::Fixed => recv_fixed(&server, &pool_rx, &mut parser).await,
                        Path::Ring => recv_ring(&server, &ring, &mut parser, &name).await,
                        Path::ZcVec => recv_plain(&server, &mut parser, &mut rng).await,
                        Path::ZcFixed => recv_ring(&server, &ring, &mut parser, &name).await,
                    }
                    let total = parser.total;
                    parser.finish(&sums, &name);
                    total
                });
                handles.push((path, sender, receiver));
            }
        }
        let mut bytes = [0usize; 4];
        for (path, sender, receiver) in handles {
            sender.await.expect("a sender panicked");
            bytes[path as usize] += receiver.await.expect("a receiver panicked");
        }
        eprintln!(
            "bytes carried: read/write_fixed {}, buffer ring {}, send_zc(Vec) {}, \
             send_zc(FixedBuf) {}",
            bytes[0], bytes[1], bytes[2], bytes[3]
        );
        // Every buffer is back where it belongs.
        assert_eq!(pool.available(), pool.capacity());
        assert_eq!(ring.available(), ring.capacity());
        assert_eq!(runtime.metrics().ops_in_flight, 0);
    });
    done.store(true, Ordering::SeqCst);
}
