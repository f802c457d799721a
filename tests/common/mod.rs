//! The harness the integration tests share, used with `mod common;` from a test file.
//!
//! * [`Watchdog`]: turns a hang into a failure (message, then `abort`), and [`within`] for
//!   scenarios that run on their own thread and should fail with a panic instead;
//! * [`Xorshift`] and [`checksum`]: reproducible payloads and a cheap integrity check
//!   ([`rng`](self::rng)); a stream verifier for sequence-numbered, checksummed frames
//!   ([`frames`](self::frames));
//! * [`ProbeBuf`](buf::ProbeBuf): an I/O buffer that counts its drops (or panics in `Drop`);
//! * [`CountingAlloc`]: a global allocator that counts live bytes and allocations
//!   ([`alloc`](self::alloc)); a test binary opts in with
//!   `#[global_allocator] static A: common::CountingAlloc = common::CountingAlloc::new();`
//! * gauges of this process and others — [`open_fds`], [`rss_bytes`], [`cpu_time`],
//!   [`process_cpu_time`] — and re-running the test binary as a child process with lowered
//!   limits ([`process`](self::process));
//! * building and starting the example programs ([`examples`](self::examples));
//! * a std peer reading slowly, and comparing long payloads ([`peer`](self::peer));
//! * [`skipped`]: a skipped test says so where `ci/test` counts it ([`skip`](self::skip));
//! * wakers that misbehave as the contract allows, e.g. panic on clone ([`waker`](self::waker)).
//!
//! Not every test binary uses every piece, hence the blanket `dead_code` allowance.

#![allow(dead_code, unused_imports)]

pub mod alloc;
pub mod buf;
pub mod canary;
pub mod datagrams;
pub mod examples;
pub mod frames;
pub mod fuse;
pub mod mqueue;
pub mod peer;
pub mod process;
pub mod quarantine;
pub mod rng;
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
pub mod seccomp;
pub mod skip;
pub mod tmp;
pub mod unix;
pub mod waker;

pub use alloc::{CountingAlloc, HeapSnapshot, SizeSnapshot};
pub use process::{
    cpu_time, lower_fd_limit, open_fds, open_fds_settled, process_cpu_time, process_open_fds,
    process_rss_bytes, rss_bytes, thread_cpu_time, thread_run_delay,
};
pub use rng::{checksum, Xorshift};
pub use skip::skipped;
pub use tmp::TempDir;

use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

/// The longest [`Watchdog::note`] kept, in bytes.
pub const NOTE_CAPACITY: usize = 512;

/// Child processes to kill before a watchdog aborts, so a hang leaves no server behind.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Registers a child process for the watchdog to kill if it fires.
pub fn kill_on_abort(pid: u32) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

/// Aborts the process if still alive after its limit: a hang becomes a failure, not a stuck
/// suite. Dropping it (at the end of the test, or when the test panics) stands it down.
///
/// Before aborting it prints what was hanging and the last [`note`](Watchdog::note) the test left
/// (say, the runtime's gauges: ops in flight, slots in use), and kills registered child processes.
#[derive(Debug)]
pub struct Watchdog {
    _alive: Sender<()>,
    note: Arc<Mutex<String>>,
}

impl Watchdog {
    /// A watchdog for `what` (usually the test's name) that fires after `secs` seconds.
    pub fn new(secs: u64, what: &str) -> Watchdog {
        let limit = Duration::from_secs(secs);
        let what = what.to_owned();
        let (alive, done) = channel::<()>();
        // Reserved up front so notes of up to this length never reallocate: a test that counts
        // heap bytes may leave notes between its snapshots.
        let note = Arc::new(Mutex::new(String::with_capacity(NOTE_CAPACITY)));
        let last_note = note.clone();
        std::thread::spawn(move || {
            if done.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
                eprintln!("watchdog: `{what}` still runs after {limit:?}: a hang; aborting");
                let note = last_note.lock().unwrap_or_else(|e| e.into_inner());
                if !note.is_empty() {
                    eprintln!("watchdog: last note: {note}");
                }
                for &pid in CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    // SAFETY: kill(2) has no memory-safety preconditions.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                }
                std::process::abort();
            }
        });
        Watchdog {
            _alive: alive,
            note,
        }
    }

    /// Leaves a line for the watchdog to print if it fires (replacing the previous one). Cut to
    /// [`NOTE_CAPACITY`] bytes, so it allocates nothing beyond what `note` itself holds.
    pub fn note(&self, note: &str) {
        let mut end = note.len().min(NOTE_CAPACITY);
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        let mut kept = self.note.lock().unwrap_or_else(|e| e.into_inner());
        kept.clear();
        kept.push_str(&note[..end]);
    }
}

/// The backends this machine can run: epoll always, io_uring where the kernel allows it. A
/// scenario looped over them checks both the ring path and the readiness path.
pub fn backends() -> Vec<coring::Backend> {
    let uring = coring::Builder::new()
        .backend(coring::Backend::IoUring)
        .build();
    let mut all = vec![coring::Backend::Epoll];
    if uring.is_ok() {
        all.push(coring::Backend::IoUring);
    }
    all
}

/// Runs `body` on its own thread and fails (panics) if it does not finish within `limit`; a panic
/// in `body` is passed on.
pub fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(body)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the scenario still runs after {limit:?}: a hang"),
    }
}

/// How a runtime was roused from the kernel by other threads so far, from its metrics:
/// `(through MSG_RING, through its eventfd)`.
pub fn notified(metrics: &coring::runtime::Metrics) -> (u64, u64) {
    (metrics.notified_by_msg_ring, metrics.notified_by_eventfd)
}

/// [`notified`] for every worker of a multi-worker runtime, in worker order.
pub fn notified_per_worker(runtime: &coring::runtime::MultiRuntime) -> Vec<(u64, u64)> {
    runtime.metrics().iter().map(notified).collect()
}

/// The `p`-th percentile (0.0..=100.0, nearest rank) of `samples`, which it sorts; zero if
/// there are none.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Polls `fut` once: its output if that poll finished it, `None` if it is pending (an op's
/// first poll queues its entry for the loop's next submission).
pub async fn poll_once<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Option<F::Output> {
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// A connected loopback TCP pair, `(client, server)`, made with coring's own connect and accept.
pub async fn tcp_pair() -> (coring::net::TcpStream, coring::net::TcpStream) {
    let listener = coring::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = coring::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// A connected loopback pair of std sockets, `(client, server)`, with 4 KiB windows: the
/// client's receive buffer and the server's send buffer, so a large write from the server stalls
/// until the client reads (the state in which a send can be caught in flight).
pub fn small_window_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let (server, _) = listener.accept().unwrap();
    socket2::SockRef::from(&server)
        .set_send_buffer_size(4096)
        .unwrap();
    (socket.into(), server)
}

/// Yields until `runtime` has no operation in flight, so completions are reaped into their slots
/// (a dropped future then finds its result already there: the worst case for cancellation).
/// Panics after 100,000 yields.
pub async fn until_reaped(runtime: &coring::Runtime) {
    for _ in 0..100_000 {
        if runtime.metrics().ops_in_flight == 0 {
            return;
        }
        coring::task::yield_now().await;
    }
    panic!(
        "{} ops still in flight after 100,000 yields",
        runtime.metrics().ops_in_flight
    );
}

/// A loopback peer (a std listener on its own thread) that accepts one connection and reads
/// nothing until [`start_reading`](StalledPeer::start_reading), so the writer's socket buffers
/// fill and its writes wait; then it reads to the end.
pub struct StalledPeer {
    /// Where to connect.
    pub addr: std::net::SocketAddr,
    go: Sender<()>,
    reader: std::thread::JoinHandle<u64>,
}

impl StalledPeer {
    /// Binds and starts the peer's thread.
    pub fn new() -> StalledPeer {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, start) = channel::<()>();
        let reader = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let _ = start.recv();
            let mut received = 0u64;
            let mut chunk = vec![0u8; 1 << 16];
            while let Ok(n @ 1..) = peer.read(&mut chunk) {
                received += n as u64;
            }
            received
        });
        StalledPeer { addr, go, reader }
    }

    /// Lets the peer read from now on.
    pub fn start_reading(&self) {
        let _ = self.go.send(());
    }

    /// Waits for the peer to read to the end of the stream; the bytes it received.
    pub fn join(self) -> u64 {
        self.start_reading();
        self.reader.join().unwrap()
    }
}
