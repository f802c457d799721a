//! R4 (docs/HAZARDS.md, issue 7): a soak leaves no heap, fd or memory growth behind.
//!
//! On one runtime, CI-sized (`CORING_SOAK=10` multiplies every count by ten; any factor works):
//!
//! * 100,000 echo round trips of checksummed, sequence-numbered frames (1 B – 4 KiB payloads)
//!   over 8 connections to a coring echo server;
//! * 10,000 connect/close cycles spread over 8 listeners, one per loopback address 127.0.0.1 –
//!   127.0.0.8 (the kernel routes all of 127/8 to loopback, so `TIME_WAIT` entries spread over
//!   8 destinations); half closed by the client first, half by the server;
//! * 100,000 timer insert/cancel pairs: a sleep registered with the runtime and dropped before
//!   it fires (in batches, so up to 1,000 are registered at once).
//!
//! Targets: heap delta 0 B once the runtime is dropped (counting allocator; the baseline is taken
//! after a warm-up run of the same soak at 1/20 the size, which allocates std's lazy statics and
//! grows the allocator's arenas), fd delta 0, RSS growth < 1 MiB (`VmRSS`, same baseline), and
//! no timers or op slots left in the runtime at the end.
//!
//! Those end figures cannot see memory that grows while the runtime runs and is given back when
//! it drops (a queue that only shrinks at shutdown, a slab that keeps every slot). So the soak
//! also samples live heap and RSS *while it runs*, at every 1/16 of the echo round trips left
//! once the timer phase is over (up to 1,000 sleeps registered at once would raise the first
//! samples by up to about 200 KiB and hide a leak of that size), and
//! the lowest sample of the last quarter may exceed the lowest of the first quarter by at most
//! [`HEAP_GROWTH_LIMIT`] and [`RSS_GROWTH_LIMIT`]. The lowest, because the heap in use swings
//! with the frames, connections and timers in flight at the moment; a leak raises the floor.

mod common;

use common::frames::{encode, FrameReader};
use common::{open_fds, rss_bytes, CountingAlloc, HeapSnapshot, Watchdog, Xorshift};
use coring::net::{TcpListener, TcpStream};
use coring::time::sleep;
use coring::Runtime;
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const ECHOES: u64 = 100_000;
const CYCLES: u64 = 10_000;
const TIMERS: u64 = 100_000;
const CONNECTIONS: u64 = 8;
const CYCLERS: u64 = 4;
const TIMER_BATCH: u64 = 1_000;
const RSS_LIMIT: i64 = 1 << 20;
/// Samples taken while the soak runs, one per 1/`SAMPLES` of the echo round trips.
const SAMPLES: u64 = 16;
/// The samples, kept in an array: on the heap they would count in the heap delta.
type Samples = [Sample; SAMPLES as usize];
/// Largest growth of the live heap's floor from the first to the last quarter of the run. The
/// floor moved by under 10 KiB in either direction in measured runs; 128 KiB is about one byte per
/// round trip of the default run (a leak of any real size per op, or per connection cycle,
/// crosses it).
const HEAP_GROWTH_LIMIT: i64 = 128 << 10;
/// The same for RSS, which also moves with the allocator's arenas and page-granular trimming.
const RSS_GROWTH_LIMIT: i64 = 2 << 20;

/// Live heap and RSS at a point of the run.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    echoes: u64,
    heap: i64,
    rss: i64,
}

/// What one soak did, and the runtime's gauges at its end.
#[derive(Debug, Default, Clone, Copy)]
struct Done {
    echoes: u64,
    cycles: u64,
    timers: u64,
    slots: usize,
    in_flight: usize,
    tasks: usize,
    pending_timers: usize,
}

async fn echo_server(stream: TcpStream) {
    let mut buf = Vec::with_capacity(8 * 1024);
    loop {
        buf.clear();
        let (result, back) = stream.read(buf).await;
        buf = back;
        if result.expect("server read") == 0 {
            return;
        }
        let (result, back) = stream.write_all(buf).await;
        buf = back;
        result.expect("server write");
    }
}

/// `count` round trips on one connection, each frame verified when it comes back.
async fn echo_client(addr: SocketAddr, conn: u32, count: u64, done: Rc<Cell<u64>>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut rng = Xorshift::new(u64::from(conn));
    let mut reader = FrameReader::for_connection(conn);
    let mut payload = vec![0; 4096];
    let mut buf = Vec::with_capacity(8 * 1024);
    for seq in 0..count as u32 {
        let len = rng.up_to(payload.len());
        rng.fill(&mut payload[..len]);
        let (result, _) = stream.write_all(encode(conn, seq, &payload[..len])).await;
        result.unwrap();
        while reader.verified() <= u64::from(seq) {
            buf.clear();
            let (result, back) = stream.read(buf).await;
            buf = back;
            let n = result.unwrap();
            assert!(n > 0, "connection {conn}: end of stream before the echo");
            reader.push(&buf[..n]).expect("a corrupt echo");
        }
        done.set(done.get() + 1);
    }
    stream.shutdown(Shutdown::Write).await.unwrap();
}

/// Accepts and closes: even connections are closed by the server first (after one byte), odd
/// ones after the client closed.
async fn cycle_server(listener: Rc<TcpListener>) {
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        let stream = stream.expect("accept");
        drop(coring::spawn(async move {
            let (result, buf) = stream.read(Vec::with_capacity(1)).await;
            match (result.expect("cycle read"), buf.first()) {
                (1, Some(b'S')) => drop(stream.write_all(b"x".to_vec()).await.0),
                (1, _) => drop(stream.read(Vec::with_capacity(1)).await.0),
                _ => {}
            }
        }));
    }
}

async fn cycle(addr: SocketAddr, server_first: bool) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let first = if server_first { b"S" } else { b"C" };
    stream.write_all(first.to_vec()).await.0.unwrap();
    if server_first {
        // The server answers and closes; read to its end of stream.
        while stream.read(Vec::with_capacity(8)).await.0.unwrap() > 0 {}
    }
}

/// Registers `count` sleeps with the runtime, `TIMER_BATCH` at a time, and drops each before
/// it fires.
async fn timers(count: u64, runtime: &Runtime) -> u64 {
    let mut done = 0;
    while done < count {
        let batch = TIMER_BATCH.min(count - done);
        let mut sleeps: Vec<_> = (0..batch)
            .map(|i| Box::pin(sleep(Duration::from_secs(60 + i))))
            .collect();
        poll_fn(|cx| {
            for s in sleeps.iter_mut() {
                assert!(s.as_mut().poll(cx).is_pending());
            }
            Poll::Ready(())
        })
        .await;
        assert!(runtime.metrics().pending_timers >= batch as usize);
        drop(sleeps);
        done += batch;
        coring::task::yield_now().await;
    }
    done
}

async fn settle(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).await;
    }
}

fn soak(scale_num: u64, scale_den: u64, watchdog: &Watchdog) -> (Done, Samples) {
    let scaled = |n: u64| (n * scale_num / scale_den).max(1);
    let runtime = Runtime::new().unwrap();
    let rt = &runtime;
    let done = runtime.block_on(async move {
        // Echo.
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        let echo_acceptor = coring::spawn(async move {
            let mut incoming = echo.incoming();
            while let Some(stream) = incoming.next().await {
                drop(coring::spawn(echo_server(stream.expect("accept"))));
            }
        });
        let echoed = Rc::new(Cell::new(0));
        let per_connection = scaled(ECHOES).div_ceil(CONNECTIONS);
        let timers_done = Rc::new(Cell::new(false));
        let sampler = coring::spawn(sample_while_running(
            echoed.clone(),
            timers_done.clone(),
            per_connection * CONNECTIONS,
        ));
        let clients: Vec<_> = (0..CONNECTIONS as u32)
            .map(|conn| coring::spawn(echo_client(echo_addr, conn, per_connection, echoed.clone())))
            .collect();

        // Connect/close cycles over 127.0.0.1..=8.
        let listeners: Vec<Rc<TcpListener>> = (1..=8)
            .map(|i| Rc::new(TcpListener::bind(format!("127.0.0.{i}:0")).unwrap()))
            .collect();
        let addrs: Rc<[SocketAddr]> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let cycle_acceptors: Vec<_> = listeners
            .into_iter()
            .map(|l| coring::spawn(cycle_server(l)))
            .collect();
        let cycled = Rc::new(Cell::new(0));
        let cycles = scaled(CYCLES);
        let cyclers: Vec<_> = (0..CYCLERS)
            .map(|c| {
                let (addrs, cycled) = (addrs.clone(), cycled.clone());
                coring::spawn(async move {
                    let mut i = c;
                    while i < cycles {
                        cycle(addrs[(i % 8) as usize], i % 2 == 0).await;
                        cycled.set(cycled.get() + 1);
                        i += CYCLERS;
                    }
                })
            })
            .collect();

        // Timers, meanwhile, on this task.
        let timed = timers(scaled(TIMERS), rt).await;
        timers_done.set(true);

        for handle in clients.into_iter().chain(cyclers) {
            while !handle.is_finished() {
                sleep(Duration::from_millis(50)).await;
                watchdog.note(&format!(
                    "soak: {} echoes, {} cycles, {} slots, {} tasks",
                    echoed.get(),
                    cycled.get(),
                    rt.metrics().op_slots_in_use,
                    rt.metrics().live_tasks
                ));
            }
            handle.await.expect("a soak task failed");
        }
        let samples = sampler.await.expect("the sampler failed");
        for acceptor in cycle_acceptors.into_iter().chain([echo_acceptor]) {
            acceptor.abort();
            let _ = acceptor.await;
        }
        settle(Duration::from_secs(5), || {
            rt.metrics().live_tasks == 0 && rt.metrics().op_slots_in_use == 0
        })
        .await;
        let done = Done {
            echoes: echoed.get(),
            cycles: cycled.get(),
            timers: timed,
            slots: rt.metrics().op_slots_in_use,
            in_flight: rt.metrics().ops_in_flight,
            tasks: rt.metrics().live_tasks,
            pending_timers: rt.metrics().pending_timers,
        };
        (done, samples)
    });
    drop(runtime);
    done
}

/// Once `timers_done`, takes a [`Sample`] each time another 1/([`SAMPLES`] + 1) of the echo
/// round trips left of `total` is done.
async fn sample_while_running(
    echoed: Rc<Cell<u64>>,
    timers_done: Rc<Cell<bool>>,
    total: u64,
) -> Samples {
    while !timers_done.get() {
        sleep(Duration::from_millis(2)).await;
    }
    let start = echoed.get();
    let left = total.saturating_sub(start);
    let mut samples = Samples::default();
    let mut next = 1;
    while next <= SAMPLES {
        let echoes = echoed.get();
        // 1/17 steps: the last sample comes before the clients finish and free their buffers.
        if (echoes - start) * (SAMPLES + 1) >= next * left {
            let heap = HeapSnapshot::now().live_bytes;
            let rss = rss_bytes() as i64;
            samples[next as usize - 1] = Sample { echoes, heap, rss };
            next += 1;
        } else {
            sleep(Duration::from_millis(2)).await;
        }
    }
    samples
}

/// How much the floor of `f` rose from the first quarter of `samples` to the last.
fn floor_growth(samples: &[Sample], f: impl Fn(&Sample) -> i64) -> i64 {
    let quarter = samples.len() / 4;
    let floor = |part: &[Sample]| part.iter().map(&f).min().unwrap_or(0);
    floor(&samples[samples.len() - quarter..]) - floor(&samples[..quarter])
}

fn scale() -> u64 {
    std::env::var("CORING_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

#[test]
fn leak_and_soak_leaves_no_heap_or_fd_behind() {
    let scale = scale();
    let watchdog = Watchdog::new(180 * scale, "leak and soak");
    assert!(CountingAlloc::installed(), "the counting allocator is off");

    soak(scale, 20, &watchdog);

    let fds_before = open_fds();
    let rss_before = rss_bytes() as i64;
    let heap_before = HeapSnapshot::now();
    let started = Instant::now();
    let (done, samples) = soak(scale, 1, &watchdog);
    let elapsed = started.elapsed();
    let (heap_bytes, heap_allocs) = HeapSnapshot::settle_to(&heap_before, Duration::from_secs(1));
    let fd_delta = open_fds() as i64 - fds_before as i64;
    let rss_growth = rss_bytes() as i64 - rss_before;

    println!("leak and soak (CORING_SOAK={scale}), {elapsed:.1?}:");
    println!(
        "  {} echo round trips, {} connect/close cycles over 127.0.0.1-8, {} timer insert/cancel",
        done.echoes, done.cycles, done.timers
    );
    println!("  heap delta   {heap_bytes} B in {heap_allocs} allocations (target 0)");
    println!("  fd delta     {fd_delta} (target 0)");
    println!(
        "  RSS growth   {} KiB (target < {} KiB)",
        rss_growth / 1024,
        RSS_LIMIT / 1024
    );
    println!(
        "  left at the end: {} slots, {} in flight, {} tasks, {} timers",
        done.slots, done.in_flight, done.tasks, done.pending_timers
    );
    let heap_growth = floor_growth(&samples, |s| s.heap);
    let rss_growth_running = floor_growth(&samples, |s| s.rss);
    println!(
        "  while running ({} samples): heap floor +{} KiB first to last quarter (limit {} KiB), \
         RSS floor +{} KiB (limit {} KiB)",
        samples.len(),
        heap_growth / 1024,
        HEAP_GROWTH_LIMIT / 1024,
        rss_growth_running / 1024,
        RSS_GROWTH_LIMIT / 1024
    );
    for s in &samples {
        println!(
            "    at {:>7} echoes: heap {:>8} B, RSS {:>6} KiB",
            s.echoes,
            s.heap,
            s.rss / 1024
        );
    }

    assert!(done.echoes >= ECHOES * scale);
    assert!(done.cycles >= CYCLES * scale);
    assert!(done.timers >= TIMERS * scale);
    assert_eq!(
        (done.slots, done.in_flight, done.tasks, done.pending_timers),
        (0, 0, 0, 0),
        "slots, ops in flight, tasks, timers left"
    );
    assert_eq!(
        (heap_bytes, heap_allocs),
        (0, 0),
        "heap delta (bytes, allocations)"
    );
    assert_eq!(fd_delta, 0, "fd delta");
    assert!(rss_growth < RSS_LIMIT, "RSS grew by {rss_growth} B");
    assert!(
        samples.iter().all(|s| s.echoes > 0),
        "a sample was not taken while running: {samples:?}"
    );
    assert!(
        heap_growth < HEAP_GROWTH_LIMIT,
        "the live heap's floor grew by {heap_growth} B while the runtime ran: {samples:?}"
    );
    assert!(
        rss_growth_running < RSS_GROWTH_LIMIT,
        "RSS's floor grew by {rss_growth_running} B while the runtime ran: {samples:?}"
    );
    drop(watchdog);
}
