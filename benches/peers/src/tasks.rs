//! The task workloads, each run in a fresh child process pinned to the first CPU
//! (`--child tasks sleeps|spawn RUNTIME N`), so that peak RSS (`VmHWM`) belongs to that run:
//!
//! * sleeps: spawn N tasks that each sleep a duration of 1–1000 ms (xorshift, fixed seed, the
//!   same durations for every runtime), then await every handle; wall time from the first spawn
//!   to the last task done, and peak RSS.
//! * spawn: spawn N tasks that return a number, then await every handle in order; wall time.
//!
//! The child prints `RESULT wall_ns=… cpu_ns=… hwm_kb=… base_kb=…` where `base_kb` is the RSS
//! after the runtime was built (before any task).

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Sleeps: when the body started, how many tasks have started their sleep, how many there are,
/// and when the last one did (ns after the start): the wall time is at least that plus the
/// longest sleep, so it shows how much of the wall time is the runtime's spawn-and-arm phase.
static START: OnceLock<Instant> = OnceLock::new();
static ARMED: AtomicUsize = AtomicUsize::new(0);
static TARGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static ALL_ARMED_NS: AtomicU64 = AtomicU64::new(0);

/// Called by each sleeping task just before it awaits its sleep (one relaxed increment).
fn armed() {
    if ARMED.fetch_add(1, Relaxed) + 1 == TARGET.load(Relaxed) {
        let start = START.get().copied().unwrap_or_else(Instant::now);
        ALL_ARMED_NS.store(start.elapsed().as_nanos() as u64, Relaxed);
    }
}

/// The sleep durations, in milliseconds: 1..=`max_ms`, from a fixed xorshift sequence.
fn durations(n: usize, max_ms: u64) -> Vec<Duration> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(1 + x % max_ms)
        })
        .collect()
}

/// Longest sleep: 1000 ms; 100 ms for the smoke sizes (`N` < 100k), so they take milliseconds.
fn max_ms(n: usize) -> u64 {
    if n < 100_000 {
        100
    } else {
        1000
    }
}

fn status_kb(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

pub fn child(args: &[String]) {
    let (case, runtime) = (args[0].as_str(), args[1].as_str());
    let n: usize = args[2].parse().expect("tasks: N");
    let sleeps = match case {
        "sleeps" => durations(n, max_ms(n)),
        "spawn" => Vec::new(),
        other => panic!("unknown task case {other}"),
    };
    let spawn = case == "spawn";
    TARGET.store(sleeps.len(), Relaxed);
    let mut base = 0;
    let mut mark = || base = status_kb("VmRSS:");
    let cpu0 = crate::sys::process_cpu_time();
    let wall = match runtime {
        "coring" => coring(n, spawn, sleeps, &mut mark),
        "tokio" => tokio_ct(n, spawn, sleeps, &mut mark),
        "tokio-mt" => tokio_mt(n, spawn, sleeps, &mut mark),
        "monoio" => monoio(n, spawn, sleeps, &mut mark),
        "compio" => compio(n, spawn, sleeps, &mut mark),
        "glommio" => glommio(n, spawn, sleeps, &mut mark),
        "tokio-uring" => tokio_uring(n, spawn, sleeps, &mut mark),
        other => panic!("unknown runtime {other}"),
    };
    let cpu = crate::sys::process_cpu_time() - cpu0;
    println!(
        "RESULT wall_ns={} armed_ns={} cpu_ns={} hwm_kb={} base_kb={base}",
        wall.as_nanos(),
        ALL_ARMED_NS.load(Relaxed),
        cpu.as_nanos(),
        status_kb("VmHWM:"),
    );
    let _ = std::io::stdout().flush();
}

/// The body shared by every runtime, as a macro over its `spawn`, `sleep` and how a join
/// handle's output becomes the task's number: times the spawns and joins, returns the wall time.
macro_rules! body {
    ($n:expr, $spawn_only:expr, $sleeps:expr, $spawn:path, $sleep:path, $join:expr) => {{
        let start = Instant::now();
        let _ = START.set(start);
        let mut sum = 0u64;
        if $spawn_only {
            let handles: Vec<_> = (0..$n as u64).map(|i| $spawn(async move { i })).collect();
            for handle in handles {
                sum += $join(handle.await);
            }
        } else {
            let handles: Vec<_> = $sleeps
                .into_iter()
                .map(|d| {
                    $spawn(async move {
                        let sleep = $sleep(d);
                        armed();
                        sleep.await;
                        1u64
                    })
                })
                .collect();
            for handle in handles {
                sum += $join(handle.await);
            }
        }
        std::hint::black_box(sum);
        start.elapsed()
    }};
}

fn coring(n: usize, spawn: bool, sleeps: Vec<Duration>, mark: &mut dyn FnMut()) -> Duration {
    let runtime = coring::Runtime::new().unwrap_or_else(|e| panic!("coring runtime: {e}"));
    mark();
    runtime.block_on(async move {
        body!(
            n,
            spawn,
            sleeps,
            coring::spawn,
            coring::time::sleep,
            |r: Result<u64, _>| r.expect("join")
        )
    })
}

fn tokio_ct(n: usize, spawn: bool, sleeps: Vec<Duration>, mark: &mut dyn FnMut()) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    mark();
    runtime.block_on(async move {
        body!(
            n,
            spawn,
            sleeps,
            tokio::spawn,
            tokio::time::sleep,
            |r: Result<u64, _>| r.expect("join")
        )
    })
}

/// tokio's multi-thread scheduler with one worker (the load is on the one pinned CPU; a second
/// worker would only contend for it); the body runs in a task on the worker, so its spawns go
/// to the worker's local queue.
fn tokio_mt(n: usize, spawn: bool, sleeps: Vec<Duration>, mark: &mut dyn FnMut()) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    mark();
    runtime
        .block_on(runtime.spawn(async move {
            body!(
                n,
                spawn,
                sleeps,
                tokio::spawn,
                tokio::time::sleep,
                |r: Result<u64, _>| r.expect("join")
            )
        }))
        .expect("body task")
}

fn monoio(n: usize, spawn: bool, sleeps: Vec<Duration>, mark: &mut dyn FnMut()) -> Duration {
    let mut runtime = crate::flags::PeerFlags::current()
        .monoio(crate::servers::ENTRIES)
        .enable_timer()
        .build()
        .expect("monoio runtime");
    mark();
    runtime.block_on(async move {
        body!(
            n,
            spawn,
            sleeps,
            monoio::spawn,
            monoio::time::sleep,
            |r: u64| r
        )
    })
}

fn compio(n: usize, spawn: bool, sleeps: Vec<Duration>, mark: &mut dyn FnMut()) -> Duration {
    let runtime = crate::flags::PeerFlags::current().compio();
    mark();
    runtime.block_on(async move {
        body!(
            n,
            spawn,
            sleeps,
            compio::runtime::spawn,
            compio::time::sleep,
            |r: Result<u64, _>| r.unwrap_or_else(|_| panic!("join"))
        )
    })
}

fn glommio(n: usize, spawn: bool, sleeps: Vec<Duration>, mark: &mut dyn FnMut()) -> Duration {
    let builder = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .ring_depth(crate::servers::ENTRIES as usize);
    let executor = builder.make().expect("glommio executor");
    mark();
    executor.run(async move {
        body!(
            n,
            spawn,
            sleeps,
            glommio::spawn_local,
            glommio::timer::sleep,
            |r: u64| r
        )
    })
}

fn tokio_uring(n: usize, spawn: bool, sleeps: Vec<Duration>, mark: &mut dyn FnMut()) -> Duration {
    mark();
    crate::flags::PeerFlags::current()
        .tokio_uring(crate::servers::ENTRIES)
        .start(async move {
            body!(
                n,
                spawn,
                sleeps,
                tokio_uring::spawn,
                tokio::time::sleep,
                |r: Result<u64, _>| r.expect("join")
            )
        })
}
