//! R2, held connections: a coring echo server on one core (a thread of this test process) holds
//! 10,000 idle connections opened by a separate client process (this test binary re-run as a
//! child), while 100 more connections (1%) do echo round trips, all 100 at once: each round
//! writes a message on every active connection, then reads every echo.
//!
//! Figures, for two servers: one that gives every connection its own 16 KiB read buffer (a
//! `read` always in flight), and one that reads through a provided buffer ring shared by all
//! connections (`recv_stream` on a `BufRing`), where an idle connection holds no buffer at all:
//! server RSS and live heap per idle connection (delta / 10,000), and the p99 echo latency of
//! the active 1% with no idle connection held and with the 10,000 held. A third server is what
//! a user writes with no set-up: a `BufReader` on each stream, which reads through the
//! runtime's read pool. Its idle connection holds no buffer either: it must cost no more heap
//! than the hand-written `recv_stream` server's (plus 64 B of slack).
//!
//! The heap of an idle connection on either ring server is held to issue 19's target, 1 KiB
//! (the test prints it by allocation size; benches/README.md names each one). It measured
//! 1,001 B after the slot, loss-flag and receive-counter cuts of issue 19 (1,082 B before),
//! 1,033 B while `TcpStream::write_all` wrapped the shared write-all loop in an `async fn` of its
//! own (a second copy of the buffer in the echo's largest await), and 1,001 B again without it:
//! the task (736 B: its header and this file's echo future, the largest of the three servers'
//! since they share one future type), the two loss flags (2 × 32 B), the socket (24 B), the op
//! slot of the armed receive and the executor's registry entry (tables that grew by doubling,
//! so each byte of an entry costs up to two), and `join_all`'s bookkeeping for the server's
//! 10,100 handles. The figure is exact, not sampled: the same allocations, of the same sizes,
//! every run, so the bound (1,024 B) leaves 23 B for a compiler that lays a future out a little
//! differently; any real growth of what an idle connection holds (the smallest is 8 B, and a
//! task grows by 16 at least) past the target fails here.
//! The bound is the same on the readiness backend (`CORING_BACKEND=epoll`): there the idle
//! reader's waker sits inline in its fd's table entry and no op slot is held (991 B measured;
//! 1,055 B while the waker sat in a list of four, a 64 B allocation).
//!
//! The other memory bounds are twice the figures measured on the project's machine and recorded
//! in tests/README.md (owned buffers: 5.0 KiB RSS and 17.3 KiB heap per idle connection; buffer
//! ring: 0.95 KiB RSS; `BufReader`: 1.07 KiB RSS): these figures are deterministic to a few percent (the same
//! allocations per connection every run; RSS moves with page rounding), so twice them leaves room
//! for allocator and kernel differences while a regression that doubles the cost of an idle
//! connection fails. Latency is a wall-clock figure on a shared 2-core machine, where the server,
//! the client and everything else running share two cores: the claim (p99 under 5 ms, measured
//! 40–90 µs on a quiet machine) is recorded in tests/README.md, and the test asserts only that no
//! echo stalls: p99 under 100 ms (with 100 messages in flight at once it measured 1–32 ms while a
//! full CI run shared the machine).

mod common;

use common::process::{is_child, process_rss_bytes, spawn_child_with_env};
use common::{percentile, HeapSnapshot, SizeSnapshot, Watchdog};
use coring::buf::BufRing;
use coring::net::{ListenOptions, TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc::new();

const CHILD: &str = "CORING_R2_CHILD";
const TEST: &str = "idle_connections_are_cheap_and_the_active_ones_stay_fast";
const IDLE: usize = 10_000;
const ACTIVE: usize = 100;
/// Round trips per active connection in each measured phase.
const ROUNDS: usize = 40;
/// Bytes of each echo message.
const MESSAGE: usize = 64;
/// The per-connection read buffer of the owned-buffer server (as in `examples/echo_server.rs`).
const READ_BUF: usize = 16 * 1024;
/// The shared ring of the ring server: 256 buffers of 4 KiB (1 MiB in all).
const RING_ENTRIES: u16 = 256;
const RING_BUF: usize = 4096;
/// Per idle connection, twice the recorded figures (module docs).
const OWNED_HEAP_MAX: f64 = 2.0 * 17.3 * 1024.0;
const OWNED_RSS_MAX: f64 = 2.0 * 5.0 * 1024.0;
const RING_RSS_MAX: f64 = 2.0 * 0.95 * 1024.0;
const POOLED_RSS_MAX: f64 = 2.0 * 1.07 * 1024.0;
/// Issue 19's target for the heap of an idle connection on the two ring servers (module docs).
const RING_HEAP_MAX: f64 = 1024.0;
const POOLED_HEAP_MAX: f64 = 1024.0;
/// A stalled echo, not a slow one (module docs).
const P99_MAX: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    OwnedBuffers,
    BufferRing,
    PooledBufReader,
}

#[derive(Debug)]
struct Figures {
    rss_per_idle: f64,
    heap_per_idle: f64,
    base_p99: Duration,
    loaded_p99: Duration,
}

#[test]
fn idle_connections_are_cheap_and_the_active_ones_stay_fast() {
    if is_child(CHILD) {
        return client();
    }
    let _watchdog = Watchdog::new(420, "R2: 10,000 held connections");
    let started = Instant::now();
    // One server after the other: two at once would hold more than this process's 20,000 fds.
    let owned = measure_without_a_passing_stall(Server::OwnedBuffers);
    let ring = measure_without_a_passing_stall(Server::BufferRing);
    let pooled = measure_without_a_passing_stall(Server::PooledBufReader);
    println!("R2: the three servers measured in {:?}", started.elapsed());

    // Twice the recorded figures (see the module docs); the exact figures are printed above.
    assert!(
        owned.heap_per_idle >= READ_BUF as f64,
        "the owned-buffer server holds its read buffer per idle connection: {owned:?}"
    );
    assert!(
        owned.heap_per_idle < OWNED_HEAP_MAX && owned.rss_per_idle < OWNED_RSS_MAX,
        "owned buffers: heap per idle connection over {OWNED_HEAP_MAX} B or RSS over \
         {OWNED_RSS_MAX} B: {owned:?}"
    );
    assert!(
        ring.heap_per_idle <= RING_HEAP_MAX && ring.rss_per_idle < RING_RSS_MAX,
        "buffer ring: an idle connection holds no buffer, only its task; heap over \
         {RING_HEAP_MAX} B or RSS over {RING_RSS_MAX} B per idle connection: {ring:?}"
    );
    assert!(
        ring.heap_per_idle * 4.0 < owned.heap_per_idle,
        "the ring server holds far less per idle connection: {ring:?} vs {owned:?}"
    );
    assert!(
        pooled.heap_per_idle <= POOLED_HEAP_MAX && pooled.rss_per_idle < POOLED_RSS_MAX,
        "BufReader through the runtime pool: heap over {POOLED_HEAP_MAX} B or RSS over \
         {POOLED_RSS_MAX} B per idle buffered connection: {pooled:?}"
    );
    assert!(
        pooled.heap_per_idle <= ring.heap_per_idle + 64.0,
        "an idle BufReader holds no buffer: no more heap than a hand-written recv_stream \
         reader: {pooled:?} vs {ring:?}"
    );
    for figures in [&owned, &ring, &pooled] {
        assert!(
            figures.base_p99 < P99_MAX,
            "echo p99 with no idle connection held: {figures:?}"
        );
        assert!(
            figures.loaded_p99 < P99_MAX,
            "the active 1% stay fast with 10,000 idle connections held: {figures:?}"
        );
    }
    // How long it took is printed, not asserted: on a loaded machine it is the load's figure
    // (the watchdog above stops a hang).
}

/// [`measure`], once more if an echo p99 was over [`P99_MAX`]: a stall that idle connections
/// cause (work per loop turn that grows with them) comes back every run, while a loaded
/// machine's one-off (seen: 115 ms with the load average at 18) does not. The memory figures
/// are exact and the same in both runs.
fn measure_without_a_passing_stall(kind: Server) -> Figures {
    let first = measure(kind);
    if first.base_p99 < P99_MAX && first.loaded_p99 < P99_MAX {
        return first;
    }
    println!("R2 {kind:?}: an echo p99 over {P99_MAX:?} ({first:?}); measuring again");
    measure(kind)
}

/// Runs one server variant against a fresh client process and returns its figures.
fn measure(kind: Server) -> Figures {
    let live = Arc::new(AtomicUsize::new(0));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let server_live = live.clone();
    let server = std::thread::spawn(move || serve(kind, port_tx, server_live));
    let port: u16 = port_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let pid = std::process::id();

    let control = StdListener::bind("127.0.0.1:0").unwrap();
    let control_port = control.local_addr().unwrap().port().to_string();
    let port_text = port.to_string();
    let (mut child, lines) = spawn_child_with_env(
        TEST,
        CHILD,
        &[
            ("CORING_R2_PORT", &port_text),
            ("CORING_R2_CONTROL", &control_port),
        ],
    );
    let (mut go, _) = control.accept().unwrap();

    let base_p99 = Duration::from_micros(expect_figure(&lines, "base_p99_us"));
    wait_for(
        || live.load(Ordering::SeqCst) == ACTIVE,
        "the active connections",
    );
    let rss_before = process_rss_bytes(pid).unwrap();
    let sizes_before = SizeSnapshot::now();
    let heap_before = HeapSnapshot::now();
    go.write_all(b"1").unwrap(); // open the idle connections

    expect_figure(&lines, "held");
    wait_for(
        || live.load(Ordering::SeqCst) == ACTIVE + IDLE,
        "the idle connections on the server",
    );
    std::thread::sleep(Duration::from_millis(200)); // their reads are armed by now
    let rss_after = process_rss_bytes(pid).unwrap();
    let (heap_bytes, heap_allocs) = HeapSnapshot::now().since(&heap_before);
    let sizes = SizeSnapshot::now().since(&sizes_before);
    go.write_all(b"2").unwrap(); // measure again, with the idle connections held

    let loaded_p99 = Duration::from_micros(expect_figure(&lines, "loaded_p99_us"));
    go.write_all(b"3").unwrap(); // let go of everything
    assert!(child.wait().unwrap().success(), "the client process failed");
    server.join().unwrap();

    let figures = Figures {
        rss_per_idle: (rss_after as f64 - rss_before as f64) / IDLE as f64,
        heap_per_idle: heap_bytes as f64 / IDLE as f64,
        base_p99,
        loaded_p99,
    };
    println!(
        "R2 {kind:?}: {IDLE} idle + {ACTIVE} active connections; server RSS {} -> {} KiB: \
         {:.0} B per idle connection; live heap +{heap_bytes} B in {heap_allocs} allocations: \
         {:.0} B per idle connection; echo p99 of the active 1%: {base_p99:?} with no idle \
         connection held, {loaded_p99:?} with {IDLE} held",
        rss_before / 1024,
        rss_after / 1024,
        figures.rss_per_idle,
        figures.heap_per_idle,
    );
    println!(
        "R2 {kind:?}: live heap by size: {}",
        by_size(&sizes, heap_bytes)
    );
    figures
}

/// The live allocations gained, by size, as "N × S B" per idle connection; those of 4 KiB and
/// more (tables that grew, counted together) as their bytes per idle connection.
fn by_size(sizes: &[(usize, i64)], heap_bytes: i64) -> String {
    let small: Vec<(usize, i64)> = sizes.iter().copied().filter(|&(s, _)| s < 4096).collect();
    let mut shown: Vec<String> = small
        .iter()
        .take_while(|&&(size, n)| (size as i64 * n).abs() >= IDLE as i64)
        .map(|&(size, n)| format!("{:.2} × {size} B", n as f64 / IDLE as f64))
        .collect();
    let rest: i64 = small[shown.len()..]
        .iter()
        .map(|&(s, n)| s as i64 * n)
        .sum();
    let big = heap_bytes - small.iter().map(|&(s, n)| s as i64 * n).sum::<i64>();
    shown.push(format!(
        "{:.1} B in allocations of 4 KiB or more",
        big as f64 / IDLE as f64
    ));
    shown.push(format!(
        "{:.1} B in smaller counts",
        rest as f64 / IDLE as f64
    ));
    shown.join(", ")
}

/// The echo server: one runtime on this thread; it serves exactly `ACTIVE + IDLE` connections
/// and returns once they have all closed.
fn serve(kind: Server, port_tx: std::sync::mpsc::Sender<u16>, live: Arc<AtomicUsize>) {
    coring::block_on(async move {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = TcpListener::bind_with(addr, &ListenOptions::new().backlog(4096)).unwrap();
        let ring = match kind {
            Server::BufferRing => Some(BufRing::new(RING_ENTRIES, RING_BUF).unwrap()),
            Server::OwnedBuffers | Server::PooledBufReader => None,
        };
        port_tx.send(listener.local_addr().unwrap().port()).unwrap();
        let mut incoming = listener.incoming();
        let mut tasks = Vec::with_capacity(ACTIVE + IDLE);
        while tasks.len() < ACTIVE + IDLE {
            let stream = match incoming.next().await {
                Some(Ok(stream)) => stream,
                Some(Err(err)) => panic!("accept: {err}"),
                None => panic!("the listener ended"),
            };
            live.fetch_add(1, Ordering::SeqCst);
            let live = live.clone();
            let ring = ring.clone();
            tasks.push(coring::spawn(async move {
                let _ = match (kind, ring) {
                    (_, Some(ring)) => echo_ring(stream, ring).await,
                    (Server::PooledBufReader, None) => echo_buf_reader(stream).await,
                    (_, None) => echo_owned(stream).await,
                };
                live.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        drop(incoming);
        coring::task::join_all(tasks).await;
    });
}

/// One read buffer per connection, always lent to the kernel.
async fn echo_owned(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(READ_BUF);
    loop {
        buf.clear();
        let (read, back) = stream.read(buf).await;
        if read? == 0 {
            return Ok(());
        }
        let (written, back) = stream.write_all(back).await;
        written?;
        buf = back;
    }
}

/// No buffer until bytes arrive: the kernel takes one from the shared ring. The write buffer
/// is allocated on the first message, so an idle connection holds none.
async fn echo_ring(stream: TcpStream, ring: BufRing) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut incoming = stream.recv_stream(&ring);
    let mut out = Vec::new();
    while let Some(chunk) = incoming.next().await {
        out.clear();
        out.extend_from_slice(&chunk?);
        let (written, back) = stream.write_all(out).await;
        written?;
        out = back;
    }
    Ok(())
}

/// What a user writes: a `BufReader`, which reads through the runtime's read pool by itself.
async fn echo_buf_reader(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = coring::io::BufReader::new(stream);
    let mut out = Vec::new();
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        out.clear();
        out.extend_from_slice(chunk);
        let n = chunk.len();
        reader.consume(n);
        let (written, back) = reader.get_ref().write_all(out).await;
        written?;
        out = back;
    }
}

/// The client process: the active connections measure, the idle ones are held.
fn client() {
    let port: u16 = std::env::var("CORING_R2_PORT").unwrap().parse().unwrap();
    let control_port: u16 = std::env::var("CORING_R2_CONTROL").unwrap().parse().unwrap();
    let mut control = StdStream::connect(("127.0.0.1", control_port)).unwrap();
    control
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut wait_go = |expected: u8| {
        let mut byte = [0];
        control.read_exact(&mut byte).expect("the test's go-ahead");
        assert_eq!(byte[0], expected);
    };

    let mut active: Vec<StdStream> = (0..ACTIVE).map(|_| connect(port)).collect();
    round_trips(&mut active, 5); // warm-up
    let mut base = round_trips(&mut active, ROUNDS);
    println!("base_p99_us {}", percentile(&mut base, 99.0).as_micros());

    wait_go(b'1');
    let start = Instant::now();
    let idle: Vec<StdStream> = (0..IDLE).map(|_| connect(port)).collect();
    eprintln!(
        "R2 client: {IDLE} idle connections opened in {:?}",
        start.elapsed()
    );
    println!("held {}", idle.len());

    wait_go(b'2');
    let mut loaded = round_trips(&mut active, ROUNDS);
    println!(
        "loaded_p99_us {}",
        percentile(&mut loaded, 99.0).as_micros()
    );
    wait_go(b'3');
    // Every connection is reset when this process exits (linger 0): no TIME_WAIT left behind.
}

/// A connection with `TCP_NODELAY`, a read timeout, and linger 0 (closing resets it).
fn connect(port: u16) -> StdStream {
    let stream = StdStream::connect(("127.0.0.1", port)).expect("connect to the echo server");
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads `size_of::<linger>()` bytes from a live local.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    stream
}

/// `rounds` echo round trips on every connection at once: each round writes a message on every
/// connection, then reads every echo, so the server has all of them to serve concurrently.
/// Each latency runs from a message's write to the end of its echo.
fn round_trips(conns: &mut [StdStream], rounds: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(rounds * conns.len());
    let mut sent = Vec::with_capacity(conns.len());
    let mut echo = [0u8; MESSAGE];
    for round in 0..rounds {
        sent.clear();
        for (i, conn) in conns.iter_mut().enumerate() {
            let message = [(round * 31 + i) as u8; MESSAGE];
            sent.push(Instant::now());
            conn.write_all(&message).unwrap();
        }
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.read_exact(&mut echo).expect("the echo");
            samples.push(sent[i].elapsed());
            assert_eq!(echo, [(round * 31 + i) as u8; MESSAGE], "the echo differs");
        }
    }
    samples
}

/// Waits for the child's line `NAME VALUE` and returns the value.
fn expect_figure(lines: &Receiver<String>, name: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the client did not print {name}"));
        // libtest may have printed "test NAME ... " on the same line first.
        let mut words = line.split_whitespace().skip_while(|w| *w != name).skip(1);
        if let Some(value) = words.next().and_then(|v| v.parse().ok()) {
            return value;
        }
    }
}

fn wait_for(condition: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
