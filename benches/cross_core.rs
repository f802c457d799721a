//! Cross-core wake-up latency and message throughput, `MSG_RING` against eventfd, in one run.
//!
//! ```text
//! cargo bench --bench cross_core               # full run (10 to 30 s)
//! cargo bench --bench cross_core -- --quick    # smoke run (under 3 s)
//! cargo test --release --bench cross_core      # the same smoke run, as `cargo test` runs it
//! ```
//!
//! Two workers pinned to cores 0 and 1. Each set-up is measured twice, once with wake-ups
//! between workers posted ring to ring (`msg_ring(true)`, the default) and once through the
//! target's eventfd (`msg_ring(false)`); repetitions alternate between the two so drift in the
//! machine hits both alike.
//!
//! * **Latency**: a task on worker 0 and one on worker 1 ping-pong a counter over two bounded
//!   `mpsc` channels of capacity 1. Each round trip is two cross-core hops, and both tasks wait
//!   (their workers block in `io_uring_enter`) between hops, so every hop is a wake-up of a
//!   parked core. Reported per hop: the round trip time over 2, median and p99.
//! * **Throughput**: a task on worker 0 sends `u64`s as fast as it can over a bounded `mpsc`
//!   channel (capacity 1024) to a task on worker 1, which sums them. Messages per second from
//!   the first send to the receiver seeing the end of the stream.
//!
//! The `wakes` columns say how the workers were actually woken (from the workers' metrics), which is
//! how one can tell the two set-ups really took different paths.

use coring::runtime::MultiRuntime;
use coring::sync::mpsc;
use std::time::{Duration, Instant};

/// How much to measure.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Alternating repetitions per set-up.
    reps: usize,
    /// Round trips per latency repetition (after `warmup`).
    round_trips: usize,
    warmup: usize,
    /// Messages per throughput repetition.
    messages: u64,
}

const FULL: Plan = Plan {
    reps: 5,
    round_trips: 20_000,
    warmup: 1_000,
    messages: 1_000_000,
};

const QUICK: Plan = Plan {
    reps: 1,
    round_trips: 3_000,
    warmup: 200,
    messages: 100_000,
};

/// The two ways a worker wakes another.
const PATHS: [(&str, bool); 2] = [("MSG_RING", true), ("eventfd", false)];

fn runtime(msg_ring: bool) -> MultiRuntime {
    coring::Builder::new()
        .workers(2)
        .pin_cores(true)
        .msg_ring(msg_ring)
        .build_multi()
        .unwrap_or_else(|err| panic!("cannot start the workers: {err}"))
}

/// Total wake-ups the workers received, `(MSG_RING, eventfd)`.
fn total_wakes(runtime: &MultiRuntime) -> (u64, u64) {
    runtime.metrics().iter().fold((0, 0), |(m, e), w| {
        (m + w.notified_by_msg_ring, e + w.notified_by_eventfd)
    })
}

fn delta(before: (u64, u64), after: (u64, u64)) -> (u64, u64) {
    (after.0 - before.0, after.1 - before.1)
}

/// Ping-pong between worker 0 and worker 1; returns the per-hop times (round trip / 2) in
/// nanoseconds, and the wake-ups it took.
fn latency_run(msg_ring: bool, plan: Plan) -> (Vec<u64>, (u64, u64)) {
    let runtime = runtime(msg_ring);
    let before = total_wakes(&runtime);
    let samples = runtime.block_on(async move {
        let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
        let echo = coring::runtime::workers()[1].spawn(async move {
            while let Some(n) = ping_rx.recv().await {
                if pong_tx.send(n + 1).await.is_err() {
                    break;
                }
            }
        });
        let mut samples = Vec::with_capacity(plan.round_trips);
        for i in 0..(plan.warmup + plan.round_trips) as u64 {
            let start = Instant::now();
            ping_tx.send(i).await.expect("the echo task is alive");
            let back = pong_rx.recv().await.expect("the echo task is alive");
            let rtt = start.elapsed();
            assert_eq!(back, i + 1);
            if i as usize >= plan.warmup {
                samples.push(rtt.as_nanos() as u64 / 2);
            }
        }
        drop(ping_tx);
        echo.await.expect("the echo task finished");
        samples
    });
    let wakes = delta(before, total_wakes(&runtime));
    (samples, wakes)
}

/// Streams `plan.messages` values from worker 0 to worker 1; returns the elapsed time and the
/// wake-ups it took.
fn throughput_run(msg_ring: bool, plan: Plan) -> (Duration, (u64, u64)) {
    let runtime = runtime(msg_ring);
    let before = total_wakes(&runtime);
    let messages = plan.messages;
    let elapsed = runtime.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<u64>(1024);
        let sink = coring::runtime::workers()[1].spawn(async move {
            let mut sum = 0u64;
            let mut count = 0u64;
            while let Some(n) = rx.recv().await {
                sum = sum.wrapping_add(n);
                count += 1;
            }
            (count, sum)
        });
        let start = Instant::now();
        for n in 0..messages {
            tx.send(n).await.expect("the sink is alive");
        }
        drop(tx);
        let (count, sum) = sink.await.expect("the sink finished");
        let elapsed = start.elapsed();
        assert_eq!(count, messages, "messages lost");
        assert_eq!(sum, messages * (messages - 1) / 2, "messages corrupted");
        elapsed
    });
    let wakes = delta(before, total_wakes(&runtime));
    (elapsed, wakes)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Results for one wake-up path.
#[derive(Default)]
struct PathResult {
    hops: Vec<u64>,
    latency_wakes: (u64, u64),
    round_trips: u64,
    rates: Vec<f64>,
    throughput_wakes: (u64, u64),
    messages: u64,
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) this is a smoke run.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    if let Some(bad) = args.iter().find(|a| !a.starts_with("--")) {
        eprintln!("usage: cross_core [--quick]   (unknown argument {bad:?})");
        std::process::exit(2);
    }
    let plan = if quick { QUICK } else { FULL };
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mode = coring::Runtime::new()
        .map(|rt| rt.ring_mode().to_string())
        .unwrap_or_else(|err| panic!("{err}"));
    println!(
        "cross-core bench: 2 workers pinned to cores 0,1 ({cores} cores here), ring mode {mode}, \
         {} reps x {} round trips, {} reps x {} messages{}",
        plan.reps,
        plan.round_trips,
        plan.reps,
        plan.messages,
        if quick { " (quick)" } else { "" }
    );

    let mut results: Vec<PathResult> = PATHS.iter().map(|_| PathResult::default()).collect();
    for _ in 0..plan.reps {
        for (result, &(_, msg_ring)) in results.iter_mut().zip(&PATHS) {
            let (hops, wakes) = latency_run(msg_ring, plan);
            result.hops.extend(hops);
            result.latency_wakes.0 += wakes.0;
            result.latency_wakes.1 += wakes.1;
            result.round_trips += plan.round_trips as u64 + plan.warmup as u64;
        }
        for (result, &(_, msg_ring)) in results.iter_mut().zip(&PATHS) {
            let (elapsed, wakes) = throughput_run(msg_ring, plan);
            result
                .rates
                .push(plan.messages as f64 / elapsed.as_secs_f64());
            result.throughput_wakes.0 += wakes.0;
            result.throughput_wakes.1 += wakes.1;
            result.messages += plan.messages;
        }
    }

    println!();
    println!("(a) cross-core wake latency, per hop (round trip / 2), worker 0 <-> worker 1");
    println!();
    println!("| path | median µs | p99 µs | min µs | wakes per round trip (MSG_RING, eventfd) |");
    println!("|---|---:|---:|---:|---:|");
    let mut medians = Vec::new();
    let mut p99s = Vec::new();
    for (result, &(name, _)) in results.iter_mut().zip(&PATHS) {
        result.hops.sort_unstable();
        let med = percentile(&result.hops, 0.5);
        let p99 = percentile(&result.hops, 0.99);
        medians.push(med as f64);
        p99s.push(p99 as f64);
        let per_rt = |n: u64| n as f64 / result.round_trips as f64;
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2}, {:.2} |",
            name,
            med as f64 / 1e3,
            p99 as f64 / 1e3,
            result.hops[0] as f64 / 1e3,
            per_rt(result.latency_wakes.0),
            per_rt(result.latency_wakes.1),
        );
    }
    println!(
        "ratio eventfd / MSG_RING: median {:.2}x, p99 {:.2}x  (above 1: MSG_RING is faster)",
        medians[1] / medians[0],
        p99s[1] / p99s[0]
    );

    println!();
    println!("(b) cross-core message throughput, mpsc(1024) worker 0 -> worker 1");
    println!();
    println!(
        "| path | median msg/s | min msg/s | max msg/s | wakes per 1k msgs (MSG_RING, eventfd) |"
    );
    println!("|---|---:|---:|---:|---:|");
    let mut rates = Vec::new();
    for (result, &(name, _)) in results.iter_mut().zip(&PATHS) {
        let med = median(&mut result.rates);
        rates.push(med);
        let per_k = |n: u64| n as f64 * 1000.0 / result.messages as f64;
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2}, {:.2} |",
            name,
            med,
            result.rates[0],
            result.rates[result.rates.len() - 1],
            per_k(result.throughput_wakes.0),
            per_k(result.throughput_wakes.1),
        );
    }
    println!(
        "ratio MSG_RING / eventfd: {:.2}x  (above 1: MSG_RING is faster)",
        rates[0] / rates[1]
    );
    println!();
    println!("total time {:.2} s", started.elapsed().as_secs_f64());
}
