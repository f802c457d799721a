//! R1 (docs/HAZARDS.md, issue 7): a cancellation storm corrupts nothing and leaks nothing.
//!
//! On one runtime, an echo server (listeners on 127.0.0.1–4, accepting through `incoming()`)
//! checks and echoes sequence-numbered, checksummed frames, while client tasks run a random mix
//! of operations — echo sessions (connect, `write_all`, `read`), accepts on their own listeners
//! (through `incoming()` and `accept()`), connects, sleeps and no-ops — and cancel most of them
//! at a random point:
//!
//! * before the first poll (the future is built and dropped);
//! * after the first poll (its entry queued for the loop's next submission, not yet submitted);
//! * after submission, or after the completion but before the re-poll (polled once, then a
//!   no-op round trip through the ring, which submits the entry and reaps a completion that was
//!   due, then dropped without being polled again);
//! * by `coring::time::timeout` with a random tiny duration (0–2 ms);
//! * at shutdown: the runtime is dropped with a last burst of operations in flight.
//!
//! A stream whose read or write was cancelled after the kernel had moved bytes reports it: its
//! next read or write fails saying so. Such a stream is dropped and its frames are not counted;
//! every other frame must verify, on both sides (the server checks what it receives, the client
//! what comes back).
//!
//! An op that is not cancelled waits at most 500 ms (loopback echoes take microseconds); one
//! that waits longer is counted as stalled — its bytes went to a cancelled op — rather than
//! hanging the test.
//!
//! Figures printed at the end, with their targets: cancellations (≥ `CORING_STORM`, default
//! 100,000, in at most 3 minutes at that size), of which at least 10% at that size, and some at
//! any size, found their op still in the kernel (the runtime's `Metrics::cancels_in_flight`:
//! the kernel answered the cancel request with 0 or `EALREADY`; about 19% in measured runs),
//! corrupted frames (0), stalled ops (0), streams ended early by the server (0, it
//! drops a stream it finds corrupt), EFAULT results (0), late kernel writes into released
//! buffers (0: the clients' reads use quarantine buffers, `tests/common/quarantine.rs`),
//! unexpected errors (0), fd delta (0), heap
//! delta once the runtime is dropped (0 B; the baseline is taken after a small warm-up storm,
//! which allocates std's lazy statics), orphan slots (`op_slots_in_use()` and `ops_in_flight()`
//! both 0 once the clients are done and the server stopped).
//!
//! Long run: `CORING_STORM=1000000 cargo test --release --test
//! cancellation_storm_corrupts_nothing_and_leaks_nothing -- --nocapture`. Replay a run with the
//! `CORING_STORM_SEED=...` it printed.

mod common;

use common::frames::{encode, Corrupt, FrameReader};
use common::quarantine::{check_quarantine, QuarantineBuf};
use common::{open_fds, poll_once, CountingAlloc, HeapSnapshot, Watchdog, Xorshift};
use coring::buf::{BufRing, IoBuf};
use coring::net::{Incoming, RecvStream, TcpListener, TcpStream};
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const DEFAULT_TARGET: u64 = 100_000;
/// The time target of the default storm (docs/HAZARDS.md R1: 100k cancellations in at most
/// 3 minutes in CI); it took 10–30 s on the 2-core machine, so only a storm gone wrong
/// (spinning, or waiting out timeouts) misses it. Other sizes (valgrind's 3,000, long runs) are
/// not timed.
const DEFAULT_TIME_TARGET: Duration = Duration::from_secs(180);
/// Of the cancellations of the default storm, at least this share must reach an op really in
/// the kernel (its cancel request found it there): the storm is about those; cancelling futures
/// before they submit, or after their op completed, tests far less. 19% measured. Other sizes
/// only need some: under valgrind (3,000) user space runs some 50 times slower while the kernel
/// does not, so most ops complete before their cancel (1.7% measured).
const IN_FLIGHT_SHARE_PERCENT: u64 = 10;
const WARM_UP_TARGET: u64 = 3_000;
const CLIENTS: u64 = 16;
const SERVER_ADDRS: [&str; 4] = ["127.0.0.1:0", "127.0.0.2:0", "127.0.0.3:0", "127.0.0.4:0"];
/// Operations left in flight when the runtime is dropped.
const SHUTDOWN_BURST: usize = 1_000;
/// Connections a client keeps waiting on its own listener at most.
const MAX_WAITING: usize = 32;
/// How long an op that is not cancelled may wait before it counts as stalled.
const STALL: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Accept,
    Connect,
    Sleep,
    Nop,
    SendZc,
    RecvStream,
}

const KIND_NAMES: [&str; 8] = [
    "read",
    "write_all",
    "accept",
    "connect",
    "sleep",
    "nop",
    "send_zc",
    "recv_stream (the multishot receive dropped)",
];

#[derive(Clone, Copy, Debug)]
enum Point {
    Never,
    BeforeFirstPoll,
    AfterFirstPoll,
    AfterCompletion,
    Timeout(Duration),
}

const POINT_NAMES: [&str; 5] = [
    "before first poll",
    "after first poll",
    "after submission / completion, before re-poll",
    "by timeout",
    "at shutdown (tasks dropped with the runtime)",
];

impl Point {
    fn random(rng: &mut Xorshift) -> Point {
        match rng.below(100) {
            0..=9 => Point::Never,
            10..=19 => Point::BeforeFirstPoll,
            20..=44 => Point::AfterFirstPoll,
            45..=64 => Point::AfterCompletion,
            _ => Point::Timeout(Duration::from_micros(rng.below(2_000))),
        }
    }

    /// Cancels only some of the time: stream writes and reads must make progress too.
    fn sometimes(rng: &mut Xorshift, never_percent: u64) -> Point {
        if rng.percent(never_percent) {
            Point::Never
        } else {
            Point::random(rng)
        }
    }

    fn index(self) -> usize {
        match self {
            Point::BeforeFirstPoll => 0,
            Point::AfterFirstPoll => 1,
            Point::AfterCompletion => 2,
            Point::Timeout(_) => 3,
            Point::Never => unreachable!("an uncancelled op counts no cancellation"),
        }
    }
}

/// An error nobody expected: which op, its errno, its kind.
type ErrorNote = (Kind, Option<i32>, io::ErrorKind);

/// Counters, without heap memory of their own, so they may outlive the heap measurement.
#[derive(Default)]
struct Stats {
    target: u64,
    cancelled: Cell<u64>,
    by_kind: [Cell<u64>; 8],
    by_point: [Cell<u64>; 5],
    completed: Cell<u64>,
    sessions: Cell<u64>,
    frames_client: Cell<u64>,
    frames_server: Cell<u64>,
    /// Corrupted frames seen by clients and by the server.
    corrupted: [Cell<u64>; 2],
    first_corruption: [Cell<Option<Corrupt>>; 2],
    read_loss: Cell<u64>,
    write_loss: Cell<u64>,
    side_accepted: Cell<u64>,
    incoming_dropped: Cell<u64>,
    server_resets: Cell<u64>,
    efault: Cell<u64>,
    unexpected: Cell<u64>,
    stalls: [Cell<u64>; 8],
    late_loss: Cell<u64>,
    ended_by_server: Cell<u64>,
    errors: [Cell<Option<ErrorNote>>; 8],
    /// Tasks of the shutdown burst that started.
    burst_started: Cell<u64>,
    /// Ops in flight when the runtime was dropped.
    in_flight_at_drop: Cell<u64>,
    /// What each client is doing, for the watchdog's note.
    doing: [Cell<&'static str>; CLIENTS as usize],
}

fn bump(cell: &Cell<u64>, by: u64) {
    cell.set(cell.get() + by);
}

impl Stats {
    fn new(target: u64) -> Stats {
        Stats {
            target,
            ..Stats::default()
        }
    }

    fn running(&self) -> bool {
        self.cancelled.get() < self.target
    }

    fn cancel(&self, kind: Kind, point: usize) {
        bump(&self.cancelled, 1);
        bump(&self.by_kind[kind as usize], 1);
        bump(&self.by_point[point], 1);
    }

    fn unexpected(&self, kind: Kind, err: &io::Error) {
        if err.raw_os_error() == Some(libc::EFAULT) {
            bump(&self.efault, 1);
        }
        let n = self.unexpected.get() as usize;
        if let Some(slot) = self.errors.get(n) {
            slot.set(Some((kind, err.raw_os_error(), err.kind())));
        }
        bump(&self.unexpected, 1);
    }

    /// A corrupt frame, seen by a client (`side` 0) or the server (1).
    fn corrupted(&self, side: usize, corrupt: Corrupt) {
        if self.corrupted[side].get() == 0 {
            self.first_corruption[side].set(Some(corrupt));
        }
        bump(&self.corrupted[side], 1);
    }

    fn corrupted_total(&self) -> u64 {
        self.corrupted.iter().map(Cell::get).sum()
    }
}

/// Whether `err` is the stream telling that an earlier cancelled op had moved bytes.
fn reports_loss(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Other && err.to_string().contains("byte stream has a gap")
}

fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Why an op gave no output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    /// Cancelled at its point, as planned.
    Cancelled,
    /// Not meant to be cancelled, but nothing came for [`STALL`]: bytes meant for it went
    /// elsewhere.
    Stalled,
}

/// Runs `fut`, cancelling it at `point`; its output if it finished first.
async fn under<F: Future>(
    point: Point,
    kind: Kind,
    stats: &Stats,
    fut: F,
) -> Result<F::Output, Dropped> {
    let mut fut = Box::pin(fut);
    let output = match point {
        // Loopback echoes take microseconds; a wait this long means the bytes are gone.
        Point::Never => match timeout(STALL, fut.as_mut()).await {
            Ok(output) => Some(output),
            Err(_) => {
                bump(&stats.stalls[kind as usize], 1);
                return Err(Dropped::Stalled);
            }
        },
        Point::BeforeFirstPoll => None,
        Point::AfterFirstPoll => poll_once(fut.as_mut()).await,
        Point::AfterCompletion => match poll_once(fut.as_mut()).await {
            Some(output) => Some(output),
            None => {
                // One round trip through the ring: a completion that was due is reaped now, and
                // the op is dropped without seeing it.
                coring::runtime::nop().await.expect("the barrier no-op");
                None
            }
        },
        Point::Timeout(limit) => timeout(limit, fut.as_mut()).await.ok(),
    };
    drop(fut);
    match output {
        Some(output) => {
            bump(&stats.completed, 1);
            Ok(output)
        }
        None => {
            stats.cancel(kind, point.index());
            Err(Dropped::Cancelled)
        }
    }
}

fn payload_len(rng: &mut Xorshift) -> usize {
    match rng.below(10) {
        0..=5 => rng.up_to(256),
        6..=8 => rng.up_to(8 * 1024),
        _ => rng.up_to(64 * 1024),
    }
}

/// Connect, then a few frames, each written and read back through cancellable ops.
async fn session(
    rng: &mut Xorshift,
    servers: &[SocketAddr],
    conn: u32,
    stats: &Stats,
    ring: &BufRing,
) {
    let addr = servers[rng.below(servers.len() as u64) as usize];
    let point = Point::sometimes(rng, 50);
    let stream = match under(point, Kind::Connect, stats, TcpStream::connect(addr)).await {
        Err(_) => return,
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return stats.unexpected(Kind::Connect, &err),
    };
    bump(&stats.sessions, 1);
    // Some sessions go through the zero-copy paths: send_zc, and a multishot receive into the
    // shared buffer ring (cancelled by dropping the receive stream itself).
    let zero_copy = rng.percent(30);
    let mut chunks: Option<RecvStream> = None;
    let mut reader = FrameReader::for_connection(conn);
    for seq in 0..rng.range(1, 12) as u32 {
        let len = payload_len(rng);
        let frame = encode(conn, seq, &rng.bytes(len));
        // A cancelled write is retried: if it had sent bytes, the stream says so now.
        loop {
            let point = Point::sometimes(rng, 60);
            if zero_copy {
                match under(point, Kind::SendZc, stats, stream.send_zc(frame.clone())).await {
                    Err(Dropped::Cancelled) => continue,
                    Err(Dropped::Stalled) => return,
                    Ok((Ok(n), frame)) => {
                        // The rest of a short send, not cancelled (a cut frame is a test bug).
                        match stream.write_all(frame.slice(n..)).await.0 {
                            Ok(()) => break,
                            Err(err) if is_reset(&err) => return bump(&stats.ended_by_server, 1),
                            Err(err) => return stats.unexpected(Kind::Write, &err),
                        }
                    }
                    Ok((Err(err), _)) if reports_loss(&err) => return bump(&stats.write_loss, 1),
                    Ok((Err(err), _)) if is_reset(&err) => return bump(&stats.ended_by_server, 1),
                    Ok((Err(err), _)) => return stats.unexpected(Kind::SendZc, &err),
                }
            }
            let write = stream.write_all(frame.clone());
            match under(point, Kind::Write, stats, write).await {
                Err(Dropped::Cancelled) => continue,
                Err(Dropped::Stalled) => return,
                Ok((Ok(()), _)) => break,
                Ok((Err(err), _)) if reports_loss(&err) => return bump(&stats.write_loss, 1),
                Ok((Err(err), _)) if is_reset(&err) => return bump(&stats.ended_by_server, 1),
                Ok((Err(err), _)) => return stats.unexpected(Kind::Write, &err),
            }
        }
        while reader.verified() <= u64::from(seq) {
            let most = if rng.percent(50) { 64 } else { 16 * 1024 };
            let capacity = rng.up_to(most);
            let point = Point::sometimes(rng, 30);
            if zero_copy {
                let mut receive = chunks.take().unwrap_or_else(|| stream.recv_stream(ring));
                let next = under(point, Kind::RecvStream, stats, receive.next()).await;
                match next {
                    Err(Dropped::Cancelled) => drop(receive), // the multishot receive with it
                    Err(Dropped::Stalled) => return,
                    Ok(None) => return bump(&stats.ended_by_server, 1),
                    Ok(Some(Ok(chunk))) => {
                        chunks = Some(receive);
                        match reader.push(&chunk) {
                            Ok(frames) => bump(&stats.frames_client, frames),
                            Err(corrupt) => return stats.corrupted(0, corrupt),
                        }
                    }
                    Ok(Some(Err(err))) if reports_loss(&err) => return bump(&stats.read_loss, 1),
                    Ok(Some(Err(err))) if is_reset(&err) => return bump(&stats.ended_by_server, 1),
                    Ok(Some(Err(err))) => return stats.unexpected(Kind::RecvStream, &err),
                }
                continue;
            }
            // A quarantine buffer: a kernel write after the runtime released it is counted.
            let read = stream.read(QuarantineBuf::new(capacity));
            match under(point, Kind::Read, stats, read).await {
                Err(Dropped::Cancelled) => {}
                Err(Dropped::Stalled) => {
                    // The echo went to an earlier, cancelled read. Does the stream say so now?
                    let (result, _) = stream.read(Vec::with_capacity(1)).await;
                    if matches!(&result, Err(err) if reports_loss(err)) {
                        bump(&stats.late_loss, 1);
                    }
                    return;
                }
                Ok((Ok(0), _)) => return bump(&stats.ended_by_server, 1),
                Ok((Err(err), _)) if is_reset(&err) => return bump(&stats.ended_by_server, 1),
                Ok((Ok(n), buf)) => match reader.push(&buf[..n]) {
                    Ok(frames) => bump(&stats.frames_client, frames),
                    Err(corrupt) => return stats.corrupted(0, corrupt),
                },
                Ok((Err(err), _)) if reports_loss(&err) => return bump(&stats.read_loss, 1),
                Ok((Err(err), _)) => return stats.unexpected(Kind::Read, &err),
            }
        }
    }
    if rng.percent(10) {
        // Close with a reset: the server's pending read fails with ECONNRESET.
        stream.set_linger(Some(Duration::ZERO)).unwrap();
    }
}

/// One accept on the client's own listener, through its `incoming()` stream or `accept()`,
/// with a connection arriving (or not) at about the same time.
async fn accept_once<'a>(
    rng: &mut Xorshift,
    side: &'a TcpListener,
    incoming: &mut Option<Incoming<'a>>,
    waiting: &mut VecDeque<std::net::TcpStream>,
    stats: &Stats,
) {
    // Connections whose server end was closed (accepted and dropped, or closed with a dropped
    // multishot accept) read end of file; those still waiting do not.
    waiting.retain(
        |client| matches!(client.peek(&mut [0]), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
    );
    if rng.percent(60) && waiting.len() < MAX_WAITING {
        let client = std::net::TcpStream::connect(side.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        waiting.push_back(client);
    }
    // Never an unbounded wait: the connection made above may already sit in a multishot accept's
    // queue, or have been closed with one.
    let point = match Point::random(rng) {
        Point::Never => Point::Timeout(Duration::from_millis(rng.range(1, 5))),
        point => point,
    };
    let accepted = if rng.percent(70) {
        let next = incoming.get_or_insert_with(|| side.incoming()).next();
        match under(point, Kind::Accept, stats, next).await {
            Ok(Some(Ok(stream))) => Some(stream),
            Ok(Some(Err(err))) => return stats.unexpected(Kind::Accept, &err),
            Ok(None) => unreachable!("incoming() never ends"),
            Err(_) => None,
        }
    } else {
        match under(point, Kind::Accept, stats, side.accept()).await {
            Ok(Ok((stream, _))) => Some(stream),
            Ok(Err(err)) => return stats.unexpected(Kind::Accept, &err),
            Err(_) => None,
        }
    };
    if accepted.is_some() {
        bump(&stats.side_accepted, 1);
    }
    if incoming.is_some() && rng.percent(20) {
        // Drops the multishot accept, with any connections it took that nobody asked for yet.
        *incoming = None;
        bump(&stats.incoming_dropped, 1);
    }
}

async fn client(id: u64, seed: u64, servers: Rc<[SocketAddr]>, stats: Rc<Stats>) {
    // 64 × 16 KiB, shared by the client's zero-copy sessions (one at a time).
    let ring = BufRing::new(64, 16 * 1024).expect("a buffer ring");
    let mut rng = Xorshift::new(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let side = TcpListener::bind(format!("127.0.0.{}:0", 5 + id % 4)).unwrap();
    let mut incoming = None;
    let mut waiting = VecDeque::new();
    let mut conn = (id as u32) << 20;
    while stats.running() {
        match rng.below(100) {
            0..=39 => {
                stats.doing[id as usize].set("session");
                conn += 1;
                session(&mut rng, &servers, conn, &stats, &ring).await;
            }
            40..=54 => {
                stats.doing[id as usize].set("accept");
                accept_once(&mut rng, &side, &mut incoming, &mut waiting, &stats).await
            }
            55..=69 => {
                stats.doing[id as usize].set("connect");
                let addr = servers[rng.below(servers.len() as u64) as usize];
                let point = Point::random(&mut rng);
                if let Ok(Err(err)) =
                    under(point, Kind::Connect, &stats, TcpStream::connect(addr)).await
                {
                    stats.unexpected(Kind::Connect, &err);
                }
            }
            70..=84 => {
                stats.doing[id as usize].set("sleep");
                let nap = sleep(Duration::from_micros(rng.below(3_000)));
                let _ = under(Point::random(&mut rng), Kind::Sleep, &stats, nap).await;
            }
            _ => {
                stats.doing[id as usize].set("nop");
                let nop = coring::runtime::nop();
                if let Ok(Err(err)) = under(Point::random(&mut rng), Kind::Nop, &stats, nop).await {
                    stats.unexpected(Kind::Nop, &err);
                }
            }
        }
    }
}

/// The echo server's side of one connection: check every frame, echo every byte.
async fn echo(stream: TcpStream, stats: Rc<Stats>) {
    let mut reader = FrameReader::learning();
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (result, back) = stream.read(buf).await;
        buf = back;
        let n = match result {
            Ok(0) => return,
            Ok(n) => n,
            Err(err) if is_reset(&err) => return bump(&stats.server_resets, 1),
            Err(err) => return stats.unexpected(Kind::Read, &err),
        };
        match reader.push(&buf[..n]) {
            Ok(frames) => bump(&stats.frames_server, frames),
            Err(corrupt) => return stats.corrupted(1, corrupt),
        }
        let (result, back) = stream.write_all(buf).await;
        buf = back;
        match result {
            Ok(()) => {}
            Err(err) if is_reset(&err) => return bump(&stats.server_resets, 1),
            Err(err) => return stats.unexpected(Kind::Write, &err),
        }
    }
}

async fn serve(listener: Rc<TcpListener>, stats: Rc<Stats>) {
    let mut incoming = listener.incoming();
    while let Some(next) = incoming.next().await {
        match next {
            Ok(stream) => drop(coring::spawn(echo(stream, stats.clone()))),
            Err(err) => stats.unexpected(Kind::Accept, &err),
        }
    }
}

/// Counts the tasks of the shutdown burst that were dropped unfinished.
struct Unfinished<'a>(&'a Stats);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        bump(&self.0.cancelled, 1);
        bump(&self.0.by_point[4], 1);
    }
}

/// Leaves about [`SHUTDOWN_BURST`] operations in flight: reads with no data coming, multishot
/// accepts with nobody connecting, long sleeps, and no-ops in a loop.
async fn shutdown_burst(stats: &Rc<Stats>) {
    let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let mut streams = Vec::new();
    for _ in 0..10 {
        let client = Rc::new(TcpStream::connect(addr).await.unwrap());
        let (server, _) = listener.accept().await.unwrap();
        streams.push((client, Rc::new(server)));
    }
    for i in 0..SHUTDOWN_BURST {
        let stats = stats.clone();
        let listener = listener.clone();
        let (client, server) = streams[i % streams.len()].clone();
        drop(coring::spawn(async move {
            let _peer = server;
            let guard = Unfinished(&stats);
            bump(&stats.burst_started, 1);
            match i % 4 {
                0 => drop(client.read(Vec::with_capacity(64)).await),
                1 => drop(listener.incoming().next().await),
                2 => sleep(Duration::from_secs(60)).await,
                _ => loop {
                    coring::runtime::nop().await.unwrap();
                },
            }
            std::mem::forget(guard);
        }));
    }
    // Every task polled once (its op queued), then one round trip to submit the lot.
    while stats.burst_started.get() < SHUTDOWN_BURST as u64 {
        coring::task::yield_now().await;
    }
    coring::runtime::nop().await.unwrap();
}

/// The runtime's gauges once the storm is over and the server stopped.
#[derive(Debug, Clone, Copy)]
struct Gauges {
    slots: usize,
    in_flight: usize,
    tasks: usize,
    timers: usize,
    cq_dropped: u64,
    submitted: u64,
    completions: u64,
    /// Cancel requests that found their op in the kernel (`Metrics::cancels_in_flight`).
    cancels_in_flight: u64,
}

/// Waits (yielding) until `done` holds, for at most `limit`.
async fn settle(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).await;
    }
}

fn storm(stats: &Rc<Stats>, seed: u64, watchdog: &Watchdog) -> Gauges {
    let runtime = Runtime::new().unwrap();
    let gauges = runtime.block_on(async {
        let listeners: Vec<Rc<TcpListener>> = SERVER_ADDRS
            .iter()
            .map(|addr| Rc::new(TcpListener::bind(addr).unwrap()))
            .collect();
        let servers: Rc<[SocketAddr]> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap())
            .collect();
        let acceptors: Vec<_> = listeners
            .into_iter()
            .map(|l| coring::spawn(serve(l, stats.clone())))
            .collect();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| coring::spawn(client(id, seed, servers.clone(), stats.clone())))
            .collect();
        while clients.iter().any(|c| !c.is_finished()) {
            sleep(Duration::from_millis(100)).await;
            let doing: Vec<&str> = stats.doing.iter().map(Cell::get).collect();
            watchdog.note(&format!(
                "storm: {} cancellations, {} slots in use, {} in flight, {} tasks; clients: {doing:?}",
                stats.cancelled.get(),
                runtime.metrics().op_slots_in_use,
                runtime.metrics().ops_in_flight,
                runtime.metrics().live_tasks
            ));
        }
        for client in clients {
            client.await.expect("a client task panicked");
        }
        for acceptor in acceptors {
            acceptor.abort();
            assert!(acceptor.await.unwrap_err().is_cancelled());
        }
        // Echo tasks end at their client's end of stream.
        settle(Duration::from_secs(10), || runtime.metrics().live_tasks == 0).await;
        settle(Duration::from_secs(5), || runtime.metrics().op_slots_in_use == 0).await;
        let stats_now = runtime.metrics();
        let gauges = Gauges {
            slots: runtime.metrics().op_slots_in_use,
            in_flight: runtime.metrics().ops_in_flight,
            tasks: runtime.metrics().live_tasks,
            timers: runtime.metrics().pending_timers,
            cq_dropped: stats_now.cq_overflow,
            submitted: stats_now.sqes_submitted,
            completions: stats_now.completions,
            cancels_in_flight: stats_now.cancels_in_flight,
        };
        shutdown_burst(stats).await;
        stats.in_flight_at_drop.set(runtime.metrics().ops_in_flight as u64);
        gauges
    });
    watchdog.note("storm: dropping the runtime with the shutdown burst in flight");
    drop(runtime);
    gauges
}

fn target() -> u64 {
    std::env::var("CORING_STORM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TARGET)
}

/// Waits up to a second for the fd count to come back to `before` (closes queued on the ring
/// at shutdown are synchronous, but give the kernel a moment); returns the last delta.
fn fd_delta(before: usize) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let delta = open_fds() as i64 - before as i64;
        if delta == 0 || Instant::now() >= deadline {
            return delta;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn cancellation_storm_corrupts_nothing_and_leaks_nothing() {
    if common::skip::io_uring_only("cancellation_storm_corrupts_nothing_and_leaks_nothing") {
        return;
    }
    let target = target();
    let watchdog = Watchdog::new(120 + target / 400, "cancellation storm");
    assert!(CountingAlloc::installed(), "the counting allocator is off");
    let seed = Xorshift::from_env_or_clock("CORING_STORM_SEED").next_u64();

    // Warm-up: the same storm, small, so lazily allocated statics exist before the baseline.
    let warm_up = Rc::new(Stats::new(WARM_UP_TARGET));
    storm(&warm_up, seed ^ 0x5EED, &watchdog);
    drop(warm_up);

    let stats = Rc::new(Stats::new(target));
    let fds_before = open_fds();
    let heap_before = HeapSnapshot::now();
    let started = Instant::now();
    let gauges = storm(&stats, seed, &watchdog);
    let elapsed = started.elapsed();
    let fd_delta = fd_delta(fds_before);
    let (heap_bytes, heap_allocs) = HeapSnapshot::settle_to(&heap_before, Duration::from_secs(1));

    let s = &stats;
    println!(
        "cancellation storm: seed CORING_STORM_SEED={seed}, {elapsed:.1?}{}",
        if target == DEFAULT_TARGET {
            format!(" (target ≤ {DEFAULT_TIME_TARGET:?})")
        } else {
            String::new()
        }
    );
    println!(
        "  cancellations        {} (target {target}); {} of them found their op in the kernel (target ≥ {IN_FLIGHT_SHARE_PERCENT}% at the default size)",
        s.cancelled.get(),
        gauges.cancels_in_flight
    );
    for (name, count) in POINT_NAMES.iter().zip(&s.by_point) {
        println!("    {name:<46} {}", count.get());
    }
    for (name, count) in KIND_NAMES.iter().zip(&s.by_kind) {
        println!("    of {name:<43} {}", count.get());
    }
    println!(
        "  ops completed        {}; {} ops in flight when the runtime was dropped",
        s.completed.get(),
        s.in_flight_at_drop.get()
    );
    println!(
        "  echo sessions        {} ({} frames verified by clients, {} by the server)",
        s.sessions.get(),
        s.frames_client.get(),
        s.frames_server.get()
    );
    println!(
        "  streams dropped after a reported loss: {} (read), {} (write)",
        s.read_loss.get(),
        s.write_loss.get()
    );
    println!(
        "  side accepts         {} ({} multishot accepts dropped); server resets {}",
        s.side_accepted.get(),
        s.incoming_dropped.get(),
        s.server_resets.get()
    );
    let stalls: Vec<String> = KIND_NAMES
        .iter()
        .zip(&s.stalls)
        .filter(|(_, n)| n.get() > 0)
        .map(|(name, n)| format!("{} {name}", n.get()))
        .collect();
    println!(
        "  stalled ops          {} {stalls:?} (uncancelled ops that waited {STALL:?} for bytes that went to a cancelled op; {} of those streams reported the loss afterwards)",
        s.stalls.iter().map(Cell::get).sum::<u64>(),
        s.late_loss.get()
    );
    println!(
        "  streams ended early  {} (end of file or reset: the server drops a stream it finds corrupt)",
        s.ended_by_server.get()
    );
    println!(
        "  corrupted frames     {} (clients {}, first {:?}; server {}, first {:?})",
        s.corrupted_total(),
        s.corrupted[0].get(),
        s.first_corruption[0].get(),
        s.corrupted[1].get(),
        s.first_corruption[1].get()
    );
    println!("  EFAULT results       {}", s.efault.get());
    let late_writes = check_quarantine();
    println!(
        "  late kernel writes   {late_writes} (into quarantined client read buffers after release)"
    );
    let errors: Vec<ErrorNote> = s.errors.iter().filter_map(Cell::get).collect();
    println!("  unexpected errors    {} {errors:?}", s.unexpected.get());
    println!("  fd delta             {fd_delta}");
    println!("  heap delta           {heap_bytes} B in {heap_allocs} allocations");
    println!(
        "  orphan slots         {} in use, {} in flight ({} tasks, {} timers left; CQ dropped {}; {} entries submitted, {} completions)",
        gauges.slots,
        gauges.in_flight,
        gauges.tasks,
        gauges.timers,
        gauges.cq_dropped,
        gauges.submitted,
        gauges.completions
    );

    assert!(s.cancelled.get() >= target);
    let share = if target == DEFAULT_TARGET {
        IN_FLIGHT_SHARE_PERCENT
    } else {
        0
    };
    assert!(
        gauges.cancels_in_flight > 0 && gauges.cancels_in_flight * 100 >= s.cancelled.get() * share,
        "only {} of {} cancellations found their op in the kernel (target {share}%, and some): \
         the storm cancelled too little that was really in flight",
        gauges.cancels_in_flight,
        s.cancelled.get()
    );
    if target == DEFAULT_TARGET {
        assert!(
            elapsed <= DEFAULT_TIME_TARGET,
            "the storm took {elapsed:?}, over its target of {DEFAULT_TIME_TARGET:?}"
        );
    }
    assert_eq!(s.corrupted_total(), 0, "corrupted frames");
    assert_eq!(
        s.stalls.iter().map(Cell::get).sum::<u64>(),
        0,
        "stalled ops: bytes went to cancelled ops without the stream reporting it in time"
    );
    assert_eq!(s.ended_by_server.get(), 0, "streams ended early");
    assert_eq!(s.efault.get(), 0, "EFAULT results");
    assert_eq!(late_writes, 0, "kernel writes into released buffers");
    assert_eq!(s.unexpected.get(), 0, "unexpected errors: {errors:?}");
    assert!(
        s.frames_client.get() > 0,
        "no frame made the round trip: the storm tested nothing"
    );
    assert_eq!((gauges.slots, gauges.in_flight), (0, 0), "orphan slots");
    assert_eq!(
        (gauges.tasks, gauges.timers),
        (0, 0),
        "tasks or timers left"
    );
    assert_eq!(gauges.cq_dropped, 0, "completions dropped by the kernel");
    assert_eq!(fd_delta, 0, "fd delta");
    assert_eq!(
        (heap_bytes, heap_allocs),
        (0, 0),
        "heap delta (bytes, allocations)"
    );
    drop(watchdog);
}
