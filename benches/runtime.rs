//! Runtime core benchmarks (issue 2): coring against tokio's current-thread runtime and against a
//! hand-written `io-uring` loop with no runtime, in one run, with ratios.
//!
//! ```text
//! cargo bench --bench runtime              # full sizes (about a minute)
//! cargo bench --bench runtime -- spawn     # only the cases whose name contains "spawn"
//! cargo test --release --bench runtime     # smoke run: every case with tiny sizes, seconds
//! ```
//!
//! Cases:
//!
//! * `spawn`: spawn N trivial tasks, then await every handle in order.
//! * `sleeps`: spawn N tasks that each sleep a random 0–100 ms (xorshift, fixed seed), join them;
//!   wall time and peak RSS. Each run is a fresh child process (this binary re-executed with
//!   `--child sleeps <runtime> <n>`) so `VmHWM` belongs to that run alone.
//! * `nop`: N sequential `coring::runtime::nop().await` inside `block_on` against a raw loop that
//!   pushes one NOP, `submit_and_wait(1)`s and reaps; and batched variants with 64 NOPs in
//!   flight (a `join_all` of 64, and 64 spawned tasks) against a raw loop that submits 64 at a time.
//!   The sequential case also runs on a runtime whose ring fd is not registered (the 17th on its
//!   thread), against the default one that enters its ring by the registered index.
//!
//! Timed cases report the best of 5 runs (sleeps: of 3 processes), the runtimes interleaved so drift on a shared
//! machine hits both. Without `--bench` (as `cargo test --all-targets` runs bench binaries) every
//! case runs once with tiny sizes, as a smoke test.

#[path = "harness/cpu.rs"]
mod cpu;

use cpu::process_cpu_time;
use io_uring::{opcode, IoUring};
use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

const SEED: u64 = 0x2545_f491_4f6c_dd1d;
/// Sleeps are uniform in 0..=MAX_SLEEP_US microseconds.
const MAX_SLEEP_US: u64 = 100_000;
/// NOPs in flight at once in the batched cases.
const BATCH: usize = 64;
/// Submission queue entries, as coring's default `Builder` (the completion queue is 4×).
const RAW_ENTRIES: u32 = 256;

struct Sizes {
    spawn: usize,
    sleeps: &'static [usize],
    nops: usize,
    /// Runs of each timed in-process case (best kept).
    reps: usize,
    /// Child processes per runtime and sleep count (best kept).
    sleep_reps: usize,
}

const FULL: Sizes = Sizes {
    spawn: 1_000_000,
    sleeps: &[100_000, 1_000_000],
    nops: 1_000_000,
    reps: 5,
    sleep_reps: 3,
};

const SMOKE: Sizes = Sizes {
    spawn: 10_000,
    sleeps: &[1_000],
    nops: 10_000,
    reps: 1,
    sleep_reps: 1,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let filter: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let wanted = |case: &str| filter.is_empty() || filter.iter().any(|f| case.contains(f));
    let sizes = if full { FULL } else { SMOKE };
    if !full {
        println!("smoke run (tiny sizes; `cargo bench --bench runtime` for the real one)");
    }
    println!(
        "kernel {}, {} CPUs available to this process, coring ring mode {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".to_owned()),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        coring_runtime().ring_mode(),
    );

    let mut table = Table::default();
    if wanted("spawn") {
        spawn_case(&sizes, &mut table);
    }
    if wanted("sleeps") {
        for &n in sizes.sleeps {
            sleeps_case(n, &sizes, &mut table);
        }
    }
    if wanted("nop") {
        nop_cases(&sizes, &mut table);
    }
    println!();
    println!("{}", table.markdown());
}

// ---------------------------------------------------------------------------------------------
// Helpers: best-of, xorshift, /proc/self/status, formatting.

/// xorshift64: the same sleep lengths for every runtime and every run.
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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Wall time and this process's CPU time over the same stretch. On a shared machine the CPU time
/// is the steadier figure: it leaves out the time other processes held the core.
#[derive(Clone, Copy)]
struct Span {
    wall: Duration,
    cpu: Duration,
}

impl Span {
    const MAX: Span = Span {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };

    /// The best of two runs, figure by figure.
    fn min(self, other: Span) -> Span {
        Span {
            wall: self.wall.min(other.wall),
            cpu: self.cpu.min(other.cpu),
        }
    }
}

struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: process_cpu_time(),
        }
    }

    fn elapsed(&self) -> Span {
        Span {
            wall: self.wall.elapsed(),
            cpu: process_cpu_time().saturating_sub(self.cpu),
        }
    }
}

fn coring_runtime() -> coring::Runtime {
    coring::Runtime::new().unwrap_or_else(|err| panic!("{err}"))
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio current-thread runtime")
}

/// A ratio that is "coring relative to the reference", oriented so the target reads naturally:
/// throughput ratios (higher is better) or time and memory ratios (lower is better).
#[derive(Clone, Copy)]
struct Ratio {
    /// From wall times (or peak RSS): what the targets are stated in.
    wall: f64,
    /// The same ratio from CPU times, if it applies: a cross-check on a noisy machine.
    cpu: Option<f64>,
}

/// The summary: one row per comparison.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 7]>,
}

impl Table {
    fn row(
        &mut self,
        case: String,
        coring: String,
        reference: String,
        ratio: Ratio,
        target: Option<(&str, bool)>,
    ) {
        let (target, met) = match target {
            Some((t, ok)) => (t.to_owned(), if ok { "yes" } else { "no" }.to_owned()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let cpu = ratio
            .cpu
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.3}×"));
        self.rows.push([
            case,
            coring,
            reference,
            format!("{:.3}×", ratio.wall),
            cpu,
            target,
            met,
        ]);
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| case | coring | reference | ratio | ratio (CPU time) | target | met |\n");
        out.push_str("|---|---:|---:|---:|---:|---|---|\n");
        for r in &self.rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// a. spawn + join of N trivial tasks.

fn spawn_coring(n: usize) -> Span {
    let runtime = coring_runtime();
    runtime.block_on(async move {
        let start = Stopwatch::start();
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            handles.push(coring::spawn(async move { i as u64 }));
        }
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        black_box(sum);
        start.elapsed()
    })
}

fn spawn_tokio(n: usize) -> Span {
    let runtime = tokio_runtime();
    runtime.block_on(async move {
        let start = Stopwatch::start();
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            handles.push(tokio::spawn(async move { i as u64 }));
        }
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        black_box(sum);
        start.elapsed()
    })
}

fn spawn_case(sizes: &Sizes, table: &mut Table) {
    let n = sizes.spawn;
    let (mut c, mut t) = (Span::MAX, Span::MAX);
    for _ in 0..sizes.reps {
        c = c.min(spawn_coring(n));
        t = t.min(spawn_tokio(n));
    }
    let ratio = Ratio {
        wall: t.wall.as_secs_f64() / c.wall.as_secs_f64(),
        cpu: Some(t.cpu.as_secs_f64() / c.cpu.as_secs_f64()),
    };
    println!(
        "spawn+join {}: coring {} ({:.2} M tasks/s), tokio {} ({:.2} M tasks/s): \
         coring at {:.2}× tokio's rate ({:.2}× by CPU time)",
        human(n),
        ms(c.wall),
        per_sec(n, c.wall) / 1e6,
        ms(t.wall),
        per_sec(n, t.wall) / 1e6,
        ratio.wall,
        ratio.cpu.unwrap_or(f64::NAN),
    );
    table.row(
        format!("spawn+join {} tasks: M tasks/s (vs tokio)", human(n)),
        format!("{:.2} ({})", per_sec(n, c.wall) / 1e6, ms(c.wall)),
        format!("{:.2} ({})", per_sec(n, t.wall) / 1e6, ms(t.wall)),
        ratio,
        Some(("≥ 4×", ratio.wall >= 4.0)),
    );
}

// ---------------------------------------------------------------------------------------------
// b. N concurrent random sleeps, each run in a fresh process.

/// What a child reports: times, peak RSS, and RSS before the first spawn.
struct SleepRun {
    span: Span,
    peak: u64,
    baseline: u64,
}

/// `--child sleeps <coring|tokio> <n>`: runs one sleep case and prints one line for the parent.
fn child(args: &[String]) {
    let [case, runtime, n] = args else {
        panic!("usage: --child sleeps <coring|tokio> <n>, got {args:?}");
    };
    assert_eq!(case, "sleeps", "unknown child case {case}");
    let n: usize = n.parse().expect("child: n");
    let (span, baseline) = match runtime.as_str() {
        "coring" => sleeps_coring(n),
        "tokio" => sleeps_tokio(n),
        other => panic!("unknown runtime {other}"),
    };
    println!(
        "RESULT wall_ns={} cpu_ns={} peak={} baseline={}",
        span.wall.as_nanos(),
        span.cpu.as_nanos(),
        status_bytes("VmHWM"),
        baseline
    );
}

fn sleeps_coring(n: usize) -> (Span, u64) {
    let runtime = coring_runtime();
    let baseline = status_bytes("VmRSS");
    let span = runtime.block_on(async move {
        let start = Stopwatch::start();
        let mut rng = XorShift(SEED);
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let pause = rng.next_sleep();
                coring::spawn(async move { coring::time::sleep(pause).await })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        start.elapsed()
    });
    (span, baseline)
}

fn sleeps_tokio(n: usize) -> (Span, u64) {
    let runtime = tokio_runtime();
    let baseline = status_bytes("VmRSS");
    let span = runtime.block_on(async move {
        let start = Stopwatch::start();
        let mut rng = XorShift(SEED);
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let pause = rng.next_sleep();
                tokio::spawn(async move { tokio::time::sleep(pause).await })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        start.elapsed()
    });
    (span, baseline)
}

fn run_child(runtime: &str, n: usize) -> SleepRun {
    let exe = std::env::current_exe().expect("current_exe");
    let output = Command::new(exe)
        .args(["--child", "sleeps", runtime, &n.to_string()])
        .output()
        .expect("re-execute the bench binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child sleeps {runtime} {n} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("child printed no RESULT line: {stdout}"));
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    SleepRun {
        span: Span {
            wall: Duration::from_nanos(field("wall_ns")),
            cpu: Duration::from_nanos(field("cpu_ns")),
        },
        peak: field("peak"),
        baseline: field("baseline"),
    }
}

/// Best times and the smallest peak over `runs` (peaks barely vary between runs), and the bytes
/// above the baseline in that run.
fn summarize(runs: &[SleepRun]) -> (Span, u64, u64) {
    let span = runs.iter().fold(Span::MAX, |best, r| best.min(r.span));
    let smallest = runs.iter().min_by_key(|r| r.peak).unwrap();
    (
        span,
        smallest.peak,
        smallest.peak.saturating_sub(smallest.baseline),
    )
}

fn sleeps_case(n: usize, sizes: &Sizes, table: &mut Table) {
    let mut coring_runs = Vec::new();
    let mut tokio_runs = Vec::new();
    for _ in 0..sizes.sleep_reps {
        coring_runs.push(run_child("coring", n));
        tokio_runs.push(run_child("tokio", n));
    }
    let (c, c_peak, c_above) = summarize(&coring_runs);
    let (t, t_peak, t_above) = summarize(&tokio_runs);
    let per_task = |above: u64| above as f64 / n as f64;
    let time = Ratio {
        wall: c.wall.as_secs_f64() / t.wall.as_secs_f64(),
        cpu: Some(c.cpu.as_secs_f64() / t.cpu.as_secs_f64()),
    };
    let rss = Ratio {
        wall: c_peak as f64 / t_peak as f64,
        cpu: None,
    };
    println!(
        "sleeps {}: coring {} (cpu {}) peak {} ({:.0} B/task), tokio {} (cpu {}) peak {} \
         ({:.0} B/task): wall {:.2}× (cpu {:.2}×), peak RSS {:.2}×",
        human(n),
        ms(c.wall),
        ms(c.cpu),
        mib(c_peak),
        per_task(c_above),
        ms(t.wall),
        ms(t.cpu),
        mib(t_peak),
        per_task(t_above),
        time.wall,
        time.cpu.unwrap_or(f64::NAN),
        rss.wall,
    );
    let targeted = n == 1_000_000;
    table.row(
        format!("{} sleeps 0–100 ms: wall time (vs tokio)", human(n)),
        format!("{} (cpu {})", ms(c.wall), ms(c.cpu)),
        format!("{} (cpu {})", ms(t.wall), ms(t.cpu)),
        time,
        targeted.then_some(("≤ 0.7×", time.wall <= 0.7)),
    );
    table.row(
        format!("{} sleeps: peak RSS (bytes/task above baseline)", human(n)),
        format!("{} ({:.0} B)", mib(c_peak), per_task(c_above)),
        format!("{} ({:.0} B)", mib(t_peak), per_task(t_above)),
        rss,
        targeted.then_some(("≤ 0.5×", rss.wall <= 0.5)),
    );
}

// ---------------------------------------------------------------------------------------------
// c. NOP round trips: through the runtime, and through a bare ring.

/// The ring coring asks for first: SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG | SUBMIT_ALL,
/// 256 entries, a completion queue 4× as large.
fn raw_ring() -> IoUring {
    IoUring::builder()
        .setup_cqsize(RAW_ENTRIES * 4)
        .setup_clamp()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_submit_all()
        .build(RAW_ENTRIES)
        .expect("io_uring with SINGLE_ISSUER | DEFER_TASKRUN")
}

/// Pushes `batch` NOPs, submits them with one `io_uring_enter` that waits for all, reaps; `n`
/// NOPs in all.
fn nop_raw(n: usize, batch: usize) -> Span {
    let mut ring = raw_ring();
    let start = Stopwatch::start();
    let mut done = 0;
    while done < n {
        let k = batch.min(n - done);
        for i in 0..k {
            let entry = opcode::Nop::new().build().user_data((done + i) as u64);
            // SAFETY: a NOP entry carries no pointers; the queue has room for `k` ≤ 256 entries
            // because every previous batch was reaped before this one.
            unsafe {
                ring.submission()
                    .push(&entry)
                    .expect("submission queue full")
            };
        }
        ring.submit_and_wait(k).expect("io_uring_enter");
        let mut reaped = 0;
        for cqe in ring.completion() {
            black_box(cqe.result());
            reaped += 1;
        }
        assert_eq!(reaped, k, "raw loop: every NOP completes inside the enter");
        done += k;
    }
    start.elapsed()
}

fn nop_coring_sequential(n: usize) -> Span {
    let runtime = coring_runtime();
    runtime.block_on(async move {
        let start = Stopwatch::start();
        for _ in 0..n {
            coring::runtime::nop().await.unwrap();
        }
        start.elapsed()
    })
}

/// [`nop_coring_sequential`] on a runtime that enters its ring by the plain fd: idle runtimes
/// first fill this thread's table of registered rings (16 entries), so the next one built falls
/// back. The same code and binary as the registered case, so the pair isolates the fd lookup.
fn nop_coring_sequential_plain_fd(n: usize) -> Span {
    let mut fillers = Vec::new();
    let runtime = loop {
        let runtime = coring_runtime();
        if !runtime.metrics().ring_fd_registered || fillers.len() > 16 {
            break runtime;
        }
        fillers.push(runtime);
    };
    assert!(!runtime.metrics().ring_fd_registered, "the table is full");
    runtime.block_on(async move {
        let start = Stopwatch::start();
        for _ in 0..n {
            coring::runtime::nop().await.unwrap();
        }
        start.elapsed()
    })
}

fn nop_coring_join_all(n: usize) -> Span {
    let runtime = coring_runtime();
    runtime.block_on(async move {
        let start = Stopwatch::start();
        let mut done = 0;
        while done < n {
            let k = BATCH.min(n - done);
            let results = coring::task::join_all((0..k).map(|_| coring::runtime::nop())).await;
            for r in results {
                r.unwrap();
            }
            done += k;
        }
        start.elapsed()
    })
}

fn nop_coring_tasks(n: usize) -> Span {
    let runtime = coring_runtime();
    runtime.block_on(async move {
        let start = Stopwatch::start();
        let per_task = n / BATCH;
        let handles: Vec<_> = (0..BATCH)
            .map(|_| {
                coring::spawn(async move {
                    for _ in 0..per_task {
                        coring::runtime::nop().await.unwrap();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        start.elapsed()
    })
}

fn nop_cases(sizes: &Sizes, table: &mut Table) {
    let n = sizes.nops;
    let n_tasks = n / BATCH * BATCH;
    let (mut seq, mut raw1, mut plain) = (Span::MAX, Span::MAX, Span::MAX);
    let (mut joined, mut tasks, mut raw64) = (Span::MAX, Span::MAX, Span::MAX);
    for _ in 0..sizes.reps {
        seq = seq.min(nop_coring_sequential(n));
        plain = plain.min(nop_coring_sequential_plain_fd(n));
        raw1 = raw1.min(nop_raw(n, 1));
        joined = joined.min(nop_coring_join_all(n));
        tasks = tasks.min(nop_coring_tasks(n));
        raw64 = raw64.min(nop_raw(n, BATCH));
    }
    // Rate ratios: the raw loop's time per op over coring's.
    let rate = |coring: Span, ops: usize, raw: Span| Ratio {
        wall: ns_per(raw.wall, n) / ns_per(coring.wall, ops),
        cpu: Some(ns_per(raw.cpu, n) / ns_per(coring.cpu, ops)),
    };
    let one = rate(seq, n, raw1);
    println!(
        "nop round trip, one at a time ({}): coring {:.0} ns/op, raw ring {:.0} ns/op: \
         coring at {:.2}× the raw loop's rate ({:.2}× by CPU time)",
        human(n),
        ns_per(seq.wall, n),
        ns_per(raw1.wall, n),
        one.wall,
        one.cpu.unwrap_or(f64::NAN),
    );
    table.row(
        format!(
            "nop round trip, 1 in flight: ns/op (vs raw ring; ratio of rates), {}",
            human(n)
        ),
        format!("{:.0}", ns_per(seq.wall, n)),
        format!("{:.0}", ns_per(raw1.wall, n)),
        one,
        Some(("≥ 0.7×", one.wall >= 0.7)),
    );
    let registered = rate(seq, n, plain);
    println!(
        "nop round trip, one at a time ({}): ring entered by its registered index {:.0} ns/op \
         (cpu {:.0}), by the plain fd {:.0} ns/op (cpu {:.0}): {:.3}× the rate",
        human(n),
        ns_per(seq.wall, n),
        ns_per(seq.cpu, n),
        ns_per(plain.wall, n),
        ns_per(plain.cpu, n),
        registered.wall,
    );
    table.row(
        format!(
            "nop round trip, 1 in flight: ns/op, registered ring fd (vs the plain fd: the 17th \
             runtime on the thread), {}",
            human(n)
        ),
        format!("{:.0}", ns_per(seq.wall, n)),
        format!("{:.0}", ns_per(plain.wall, n)),
        registered,
        None,
    );
    let (j, t) = (rate(joined, n, raw64), rate(tasks, n_tasks, raw64));
    println!(
        "nop round trip, {BATCH} in flight: coring join_all {:.0} ns/op ({:.2}×), \
         {BATCH} tasks {:.0} ns/op ({:.2}×), raw ring {:.0} ns/op",
        ns_per(joined.wall, n),
        j.wall,
        ns_per(tasks.wall, n_tasks),
        t.wall,
        ns_per(raw64.wall, n),
    );
    table.row(
        format!("nop, {BATCH} in flight via join_all: ns/op (vs raw ring, {BATCH} per submit)"),
        format!("{:.0}", ns_per(joined.wall, n)),
        format!("{:.0}", ns_per(raw64.wall, n)),
        j,
        None,
    );
    table.row(
        format!("nop, {BATCH} tasks each awaiting nops: ns/op (vs raw ring, {BATCH} per submit)"),
        format!("{:.0}", ns_per(tasks.wall, n_tasks)),
        format!("{:.0}", ns_per(raw64.wall, n)),
        t,
        None,
    );
}
