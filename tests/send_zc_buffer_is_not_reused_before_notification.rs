//! No buffer is released while the kernel may still touch it (docs/HAZARDS.md H1, H8), checked
//! with a quarantine allocator instead of a sanitizer (sanitizers cannot see kernel accesses).
//!
//! Every buffer is its own `mmap`. When the runtime (or the test) releases one, its `Drop`
//! first scribbles a poison byte over it, then `mprotect`s it `PROT_NONE` and leaks the mapping
//! on purpose, so its address is never reused. A release that came too early then shows up:
//!
//! * a kernel *write* into it (a receive) fails with `EFAULT`;
//! * a late kernel *read* (zero-copy pages still queued on the socket, copied out only when the
//!   window opens) carries the poison to the receiver, where a checksum fails or a poison byte
//!   appears in a stream that never contains it;
//! * a touch by user code is a `SIGSEGV`.
//!
//! Phase 1 sends framed, checksummed random messages with `send_zc` over several connections at
//! once into receives that use quarantine buffers too. Phase 2 drops `send_zc` and receive
//! futures mid-flight (timeouts of 0–5 ms against a peer that reads slowly), then checks that
//! every received byte belongs to what was sent, in order, and is never poison.

use coring::buf::{IoBuf, IoBufMut};
use coring::net::{TcpListener, TcpStream};
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The byte a released buffer is filled with. The test's streams never contain it.
const POISON: u8 = 0xDD;
const MIB: usize = 1 << 20;

/// Quarantine buffers released so far, and created so far.
static RELEASED: AtomicUsize = AtomicUsize::new(0);
static CREATED: AtomicUsize = AtomicUsize::new(0);

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

/// A buffer in its own anonymous mapping, quarantined (poisoned, `PROT_NONE`, leaked) on drop.
struct QBuf {
    ptr: *mut u8,
    cap: usize,
    init: usize,
}

impl QBuf {
    fn with_capacity(cap: usize) -> QBuf {
        let page = 4096;
        let map_len = cap.max(1).div_ceil(page) * page;
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap failed");
        CREATED.fetch_add(1, Ordering::SeqCst);
        QBuf {
            ptr: ptr.cast(),
            cap,
            init: 0,
        }
    }

    fn from_bytes(bytes: &[u8]) -> QBuf {
        let mut buf = QBuf::with_capacity(bytes.len());
        // SAFETY: the mapping holds at least `cap >= bytes.len()` writable bytes; the source is a
        // distinct Rust slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.ptr, bytes.len()) };
        buf.init = bytes.len();
        buf
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `init <= cap` bytes of the live (not yet quarantined) mapping are initialized.
        unsafe { std::slice::from_raw_parts(self.ptr, self.init) }
    }

    fn map_len(&self) -> usize {
        self.cap.max(1).div_ceil(4096) * 4096
    }
}

impl Drop for QBuf {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and still read-write; nothing else refers to it (the
        // runtime hands a buffer to `drop` only once the kernel is done with it, which is the
        // claim under test). Afterwards it is never touched again nor unmapped, so a kernel
        // access that comes too late faults instead of hitting reused memory.
        unsafe {
            std::ptr::write_bytes(self.ptr, POISON, self.map_len());
            let rc = libc::mprotect(self.ptr.cast(), self.map_len(), libc::PROT_NONE);
            assert_eq!(rc, 0, "mprotect failed");
        }
        RELEASED.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: the bytes live in a mapping that never moves and stays mapped (it is never unmapped);
// `init <= cap`, and `cap` bytes are mapped.
unsafe impl IoBuf for QBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.init
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as above; the mapping is writable until the buffer is dropped.
unsafe impl IoBufMut for QBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.init = self.init.max(pos.min(self.cap));
    }
}

/// xorshift64*.
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
    /// A byte that is never the poison.
    fn byte(&mut self) -> u8 {
        (self.next() % 0xDD) as u8
    }
}

/// FNV-1a, 64 bit.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn is_efault(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(libc::EFAULT)
}

async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let addr = listener.local_addr().unwrap();
    let client = coring::spawn(async move { TcpStream::connect(addr).await });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap().unwrap(), server)
}

/// Sends one whole buffer with `send_zc`, resending the rest after a short send.
async fn send_zc_all(stream: &TcpStream, buf: QBuf) {
    if let Err(err) = try_send_zc_all(stream, buf).await {
        panic!("send_zc failed: {err}");
    }
}

/// Sends all of `buf` with `send_zc`; EFAULT (the kernel hit a released page) panics.
async fn try_send_zc_all(stream: &TcpStream, buf: QBuf) -> std::io::Result<()> {
    let len = buf.bytes_init();
    let mut buf = buf;
    let mut done = 0;
    while done < len {
        let (n, slice) = stream.send_zc(buf.slice(done..len)).await;
        buf = slice.into_inner();
        match n {
            Ok(n) => done += n,
            Err(err) if is_efault(&err) => {
                panic!("send_zc: EFAULT, the kernel hit a released page")
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Reads into fresh quarantine buffers until end of file, checking every framed message.
async fn receive_messages(stream: &TcpStream, seed: u64) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let mut pending = Vec::new();
    let (mut messages, mut bytes) = (0, 0);
    loop {
        let buf = QBuf::with_capacity(1 + rng.below(256 * 1024));
        let (n, buf) = stream.read(buf).await;
        let n = match n {
            Ok(n) => n,
            Err(err) if is_efault(&err) => panic!("read: EFAULT into a live buffer"),
            Err(err) => panic!("read failed: {err}"),
        };
        if n == 0 {
            break;
        }
        bytes += n;
        pending.extend_from_slice(&buf.bytes()[..n]);
        drop(buf); // quarantined right away
        while pending.len() >= 16 {
            let len = u64::from_le_bytes(pending[..8].try_into().unwrap()) as usize;
            let sum = u64::from_le_bytes(pending[8..16].try_into().unwrap());
            assert!(len <= MIB, "corrupt length {len} in message {messages}");
            if pending.len() < 16 + len {
                break;
            }
            let payload = &pending[16..16 + len];
            assert!(
                !payload.contains(&POISON),
                "message {messages}: poison arrived"
            );
            assert_eq!(
                checksum(payload),
                sum,
                "message {messages} ({len} B) corrupted"
            );
            pending.drain(..16 + len);
            messages += 1;
        }
    }
    assert!(pending.is_empty(), "a message was cut off");
    (messages, bytes)
}

/// Phase 1: framed random messages through `send_zc`, several connections at once.
async fn checksummed_messages(listener: &TcpListener) {
    let mut tasks = Vec::new();
    for conn in 0..6u64 {
        let (client, server) = pair(listener).await;
        let sender = coring::spawn(async move {
            let mut rng = Rng::new(conn + 100);
            let mut sent = 0;
            for _ in 0..40 {
                let len = match rng.below(3) {
                    0 => 1 + rng.below(1024),
                    1 => 1 + rng.below(64 * 1024),
                    _ => 1 + rng.below(MIB),
                };
                let payload: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
                let mut frame = Vec::with_capacity(16 + len);
                frame.extend_from_slice(&(len as u64).to_le_bytes());
                frame.extend_from_slice(&checksum(&payload).to_le_bytes());
                frame.extend_from_slice(&payload);
                // Each message in its own quarantine buffer, released after its notification.
                send_zc_all(&client, QBuf::from_bytes(&frame)).await;
                sent += 1;
            }
            client.shutdown(Shutdown::Write).await.unwrap();
            sent
        });
        let receiver = coring::spawn(async move { receive_messages(&server, conn).await });
        tasks.push((sender, receiver));
    }
    let (mut messages, mut bytes) = (0, 0);
    for (sender, receiver) in tasks {
        let sent = sender.await.unwrap();
        let (got, n) = receiver.await.unwrap();
        assert_eq!(got, sent, "messages lost");
        messages += got;
        bytes += n;
    }
    eprintln!("phase 1: {messages} checksummed messages, {bytes} bytes, all intact");
}

/// The byte at `offset` of the buffer sent `seq`-th: the top 3 bits are `seq % 8`, the low 5 bits
/// `offset % 29` (0..=28), so it is never the poison (whose low bits are 29).
fn pattern(seq: usize, offset: usize) -> u8 {
    (((seq % 8) as u8) << 5) | (offset % 29) as u8
}

/// Checks a received stream made of a prefix of each sent buffer, in order: each byte continues
/// the current buffer, or starts one of the next seven at offset 0.
struct PrefixChecker {
    seq: usize,
    offset: usize,
    total: usize,
}

impl PrefixChecker {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            assert_ne!(
                b, POISON,
                "poison at byte {}: a released buffer was sent",
                self.total
            );
            if b == pattern(self.seq, self.offset) {
                self.offset += 1;
            } else if let Some(j) = (1..8).find(|&j| b == pattern(self.seq + j, 0)) {
                self.seq += j;
                self.offset = 1;
            } else {
                panic!(
                    "byte {} is {b:#x}: neither offset {} of buffer {} nor the start of a later \
                     one",
                    self.total, self.offset, self.seq
                );
            }
            self.total += 1;
        }
    }
}

fn reports_loss(err: &std::io::Error) -> bool {
    err.to_string().contains("byte stream has a gap")
}

/// Phase 2: `send_zc` futures dropped mid-flight, to a slow reader. A dropped send that had
/// put bytes on the wire makes the stream refuse further writes (the peer got a cut-off
/// buffer, and more bytes would follow it as if nothing happened): the round's connection then
/// ends and the next round starts on a new one, until 200 sends were made.
async fn dropped_sends(listener: &TcpListener) {
    let (mut dropped, mut refused, mut received) = (0, 0, 0);
    let mut rng = Rng::new(7);
    let mut read_rng = Rng::new(11);
    let mut seq = 0;
    while seq < 200 {
        let (client, server) = pair(listener).await;
        let first = seq;
        let sender = {
            let mut rng = Rng::new(rng.below(1 << 30) as u64);
            coring::spawn(async move {
                let (mut seq, mut dropped, mut refused) = (first, 0, 0);
                // At most 7 buffers in a row may leave nothing on the wire (see PrefixChecker):
                // every eighth send is awaited to the end.
                while seq < 200 {
                    let len = 64 * 1024 + rng.below(2 * MIB);
                    let bytes: Vec<u8> = (0..len).map(|off| pattern(seq, off)).collect();
                    let buf = QBuf::from_bytes(&bytes);
                    seq += 1;
                    if (seq - 1) % 8 == 7 {
                        if let Err(err) = try_send_zc_all(&client, buf).await {
                            assert!(reports_loss(&err), "send_zc failed: {err}");
                            refused += 1;
                            break;
                        }
                        continue;
                    }
                    let wait = Duration::from_micros(rng.below(5000) as u64);
                    match timeout(wait, client.send_zc(buf)).await {
                        Ok((Ok(_), _buf)) => {}
                        Ok((Err(err), _)) if is_efault(&err) => panic!("send_zc: EFAULT"),
                        Ok((Err(err), _)) if reports_loss(&err) => {
                            refused += 1;
                            break;
                        }
                        Ok((Err(err), _)) => panic!("send_zc failed: {err}"),
                        Err(_) => dropped += 1,
                    }
                }
                client.shutdown(Shutdown::Write).await.unwrap();
                (seq, dropped, refused)
            })
        };
        // A slow reader (small reads, pauses), into quarantine buffers.
        let mut checker = PrefixChecker {
            seq: first,
            offset: 0,
            total: 0,
        };
        loop {
            let buf = QBuf::with_capacity(1 + read_rng.below(128 * 1024));
            match server.read(buf).await {
                (Ok(0), _) => break,
                (Ok(n), buf) => checker.feed(&buf.bytes()[..n]),
                (Err(err), _) if is_efault(&err) => panic!("read: EFAULT into a live buffer"),
                (Err(err), _) => panic!("read failed: {err}"),
            }
            if read_rng.below(8) == 0 {
                sleep(Duration::from_micros(500)).await;
            }
        }
        let (next, d, r) = sender.await.unwrap();
        (seq, dropped, refused, received) =
            (next, dropped + d, refused + r, received + checker.total);
    }
    eprintln!(
        "phase 2: {dropped} of 200 send_zc dropped mid-flight; {refused} later sends refused \
         with the loss error (a new connection each time); {received} bytes received, each a \
         prefix of its buffer, in order, no poison, no EFAULT"
    );
    assert!(dropped > 0, "no send_zc was dropped: nothing was tested");
}

/// Phase 3: receives into quarantine buffers dropped mid-flight while a peer trickles data in.
/// A dropped read that had taken bytes makes the stream refuse further reads (it cannot give
/// them back); each round then ends and a new connection starts.
async fn dropped_reads() {
    let mut rng = Rng::new(13);
    let (mut dropped, mut rounds_with_loss, mut checked) = (0, 0, 0);
    let mut late_reports = 0;
    for round in 0..20u32 {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let peer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                let mut at = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let chunk: Vec<u8> = (at..at + 1000).map(|i| pattern(0, i)).collect();
                    if stream.write_all(&chunk).is_err() {
                        break;
                    }
                    at += chunk.len();
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        };
        let (ours, _) = std_listener.accept().unwrap();
        let stream = TcpStream::from_std(ours).unwrap();
        let mut position = 0usize;
        for _ in 0..50 {
            let buf = QBuf::with_capacity(1 + rng.below(4096));
            let wait = Duration::from_micros(rng.below(400) as u64);
            match timeout(wait, stream.read(buf)).await {
                Err(_) => dropped += 1,
                Ok((Ok(n), buf)) => {
                    let bytes = &buf.bytes()[..n];
                    assert!(!bytes.contains(&POISON), "round {round}: poison arrived");
                    if let Some(k) = (0..n).find(|&k| bytes[k] != pattern(0, position + k)) {
                        // KNOWN BUG (reported with issue 5): a read in flight while an earlier,
                        // dropped read took bytes returns the bytes after that gap as a normal
                        // result; only the read after it reports the loss. This test is about
                        // released buffers (EFAULT, poison), so it only insists that the loss
                        // is reported at all.
                        let (next, _) = stream.read(QBuf::with_capacity(16)).await;
                        assert!(
                            next.is_err(),
                            "round {round}: byte {} is wrong and the stream never said it lost \
                             bytes",
                            position + k
                        );
                        late_reports += 1;
                        rounds_with_loss += 1;
                        break;
                    }
                    position += n;
                    checked += n;
                }
                Ok((Err(err), _)) if is_efault(&err) => panic!("read: EFAULT"),
                Ok((Err(_), _)) => {
                    rounds_with_loss += 1;
                    break;
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        drop(stream);
        while !peer.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
        peer.join().unwrap();
    }
    eprintln!(
        "phase 3: {dropped} reads dropped mid-flight, {rounds_with_loss} of 20 rounds ended by \
         a read that had taken bytes ({late_reports} reported one read late, after a read had \
         returned bytes past the gap); {checked} bytes checked; no EFAULT"
    );
    assert!(dropped > 0, "no read was dropped: nothing was tested");
}

#[test]
fn send_zc_buffer_is_not_reused_before_notification() {
    let done = watchdog(Duration::from_secs(120));
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        checksummed_messages(&listener).await;
        dropped_sends(&listener).await;
        dropped_reads().await;
        // Everything the kernel had is reaped before the buffers are counted.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runtime.metrics().ops_in_flight > 0 {
            assert!(std::time::Instant::now() < deadline, "ops never finished");
            sleep(Duration::from_millis(1)).await;
        }
    });
    drop(runtime);
    // Every quarantine buffer was released, and only once (a second release would have
    // poisoned a PROT_NONE page and crashed).
    assert_eq!(
        RELEASED.load(Ordering::SeqCst),
        CREATED.load(Ordering::SeqCst),
        "quarantine buffers never released"
    );
    done.store(true, Ordering::SeqCst);
}
