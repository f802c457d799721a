//! Many concurrent sleeps: spawns N tasks that each sleep a random 0–100 ms, joins them, and
//! prints the wall time and the memory they took.
//!
//! ```text
//! cargo run --release --example timers                      # 100,000 tasks on coring
//! cargo run --release --example timers -- --count 1000000   # a million
//! cargo run --release --example timers -- --runtime tokio   # the same on tokio current-thread
//! ```
//!
//! The sleep lengths come from a xorshift generator with a fixed seed, so every run (and both
//! runtimes) sleeps the same durations. Memory is the peak resident set (`VmHWM` in
//! `/proc/self/status`); "per task" is the peak minus the resident set measured after the
//! runtime was built and before the first spawn, divided by N. coring keeps every sleep in a
//! user-space timer store: a million sleeps are one kernel timeout, not a million.

#[path = "common/backend.rs"]
mod backend;
use std::time::{Duration, Instant};

const DEFAULT_COUNT: usize = 100_000;
const SEED: u64 = 0x2545_f491_4f6c_dd1d;
/// Sleeps are uniform in 0..=MAX_SLEEP_US microseconds.
const MAX_SLEEP_US: u64 = 100_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Coring,
    Tokio,
}

struct Args {
    count: usize,
    runtime: Which,
}

fn usage(problem: &str) -> ! {
    eprintln!("timers: {problem}");
    eprintln!("usage: timers [--count N] [--runtime coring|tokio]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        count: DEFAULT_COUNT,
        runtime: Which::Coring,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--count" | "-n" => {
                let v = value().replace('_', "");
                args.count = v
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--count: not a number: {v}")));
            }
            "--runtime" => {
                args.runtime = match value().as_str() {
                    "coring" => Which::Coring,
                    "tokio" => Which::Tokio,
                    other => usage(&format!("--runtime: coring or tokio, not {other}")),
                }
            }
            "--help" | "-h" => usage("spawns N sleeping tasks and reports time and memory"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args
}

/// xorshift64: a fixed, dependency-free sequence of sleep lengths.
struct XorShift(u64);

impl XorShift {
    fn next_sleep(&mut self) -> Duration {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        Duration::from_micros(x % (MAX_SLEEP_US + 1))
    }
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

struct Outcome {
    baseline_rss: u64,
    wall: Duration,
}

fn run_coring(count: usize) -> Outcome {
    let runtime = coring::Runtime::new().unwrap_or_else(|err| {
        eprintln!("{err}");
        std::process::exit(1);
    });
    let baseline_rss = status_bytes("VmRSS");
    let wall = runtime.block_on(async move {
        let start = Instant::now();
        let mut rng = XorShift(SEED);
        let handles: Vec<_> = (0..count)
            .map(|_| {
                let pause = rng.next_sleep();
                coring::spawn(async move { coring::time::sleep(pause).await })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a sleeping task failed");
        }
        start.elapsed()
    });
    Outcome { baseline_rss, wall }
}

fn run_tokio(count: usize) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime");
    let baseline_rss = status_bytes("VmRSS");
    let wall = runtime.block_on(async move {
        let start = Instant::now();
        let mut rng = XorShift(SEED);
        let handles: Vec<_> = (0..count)
            .map(|_| {
                let pause = rng.next_sleep();
                tokio::spawn(async move { tokio::time::sleep(pause).await })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a sleeping task failed");
        }
        start.elapsed()
    });
    Outcome { baseline_rss, wall }
}

fn main() {
    backend::report_fallback();
    let args = parse_args();
    let name = match args.runtime {
        Which::Coring => "coring",
        Which::Tokio => "tokio current-thread",
    };
    let outcome = match args.runtime {
        Which::Coring => run_coring(args.count),
        Which::Tokio => run_tokio(args.count),
    };
    let peak = status_bytes("VmHWM");
    let above = peak.saturating_sub(outcome.baseline_rss);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!("runtime:        {name}");
    println!(
        "tasks:          {} (each sleeps a random 0-100 ms)",
        args.count
    );
    println!("wall time:      {:.1} ms", outcome.wall.as_secs_f64() * 1e3);
    println!("baseline RSS:   {:.1} MiB", mib(outcome.baseline_rss));
    println!("peak RSS:       {:.1} MiB (VmHWM)", mib(peak));
    println!(
        "bytes per task: {:.0} (peak minus baseline, over {} tasks)",
        above as f64 / args.count.max(1) as f64,
        args.count
    );
}
