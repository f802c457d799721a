//! Network benchmarks (issues 3 and 4): coring against tokio over loopback, in one run, with
//! ratios.
//!
//! ```text
//! cargo bench --bench net                  # full sizes: 5 s windows (about 5 minutes)
//! cargo bench --bench net -- --quick       # 1 s windows
//! cargo bench --bench net -- echo http     # only the cases whose name contains a filter
//! cargo test --release --bench net         # smoke run: every case with tiny sizes, seconds
//! ```
//!
//! Every server and load generator is this binary re-executed as a child process
//! (`--child server <kind>`, `--child load ...`, `--child wget ...`), so each has its own
//! process, CPU accounting and core: servers are pinned to the first allowed CPU, load generators
//! (and `wrk`) to the second. Cases:
//!
//! * `echo`: ping-pong of 1 KiB and 16 KiB messages over 50 and 500 connections against four
//!   servers: coring with `read`/`write_all` and one reused `Vec` per connection; coring with a
//!   multishot receive into a [`BufRing`](coring::buf::BufRing) (`recv_stream`); tokio's
//!   current-thread runtime with `read`/`write_all`; and a hand-written io_uring loop with
//!   coring's ring flags and no runtime (the practical limit). One load generator for all of
//!   them: a bare `io-uring` loop that keeps one message in flight per connection.
//! * `http`: a minimal keep-alive HTTP/1.1 "hello" server (tokio, coring, raw loop) driven by
//!   `wrk -t1 -c50`.
//! * `wget`: the seed's wget at scale: a client keeping 200 fetches in flight (connect,
//!   `GET / HTTP/1.0`, read the head, close) against four nginx servers; coring vs tokio clients.
//! * `multi`: echo on two workers: coring `build_multi(2)` with an `SO_REUSEPORT` listener per
//!   worker, tokio multi-thread (2 workers), two tokio current-thread runtimes on `SO_REUSEPORT`
//!   sockets. The load generator is not pinned (there are only two cores).
//!
//! Measuring on a shared 2-CPU machine: each configuration runs in rounds, the servers taking
//! turns within a round; tables show medians over rounds, and ratios are geometric means of the
//! ratios within each round. Before each run the bench waits for the machine to be idle, and a
//! run during which our processes waited for a CPU held by another process (their run-queue
//! delay, from `schedstat`) for more than 3% of the window is repeated (the "others" column).
//!
//! Server CPU is the server process's `utime + stime` (`/proc/<pid>/stat`) over the measured
//! window; "server core" is everything its CPU did (`/proc/stat`, softirq included); coring's and
//! the raw loop's `io_uring_enter` calls come from their own counters (`metrics()`), sampled at
//! the start and the end of the window. Without `--bench` (as `cargo test --all-targets` runs
//! bench binaries) every case runs once with tiny sizes and the binary exits 0.
//!
//! With `NET_BENCH_RAW_BATCH=N,µs` set, cases a and b also run the raw loop with batched waits:
//! each `io_uring_enter` waits for up to N completions but at most µs microseconds
//! (`min_wait_usec`, Linux 6.12), the experiment behind the note on `io_uring_enter` counts.

use io_uring::{opcode, types, IoUring};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Read buffer of every echo server (and buffer size of the coring buffer ring).
const ECHO_BUF: usize = 16 * 1024;
/// Read buffer of the HTTP servers and the wget clients.
const HTTP_BUF: usize = 4096;
/// Longest request or response head accepted.
const HEAD_MAX: usize = 8 * 1024;
/// Submission queue entries for coring runtimes in this bench.
const CORING_ENTRIES: u32 = 1024;
/// Buffers in the coring echo server's buffer ring.
const RING_BUFFERS: u16 = 1024;
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";
const GET: &[u8] = b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: coring-bench\r\n\r\n";

/// Sizes and durations of one run of the suite.
struct Mode {
    name: &'static str,
    warmup: Duration,
    window: Duration,
    /// Runs of each measurement (interleaved across servers; the best throughput is kept).
    reps: usize,
    /// Extra attempts of a run during which other processes used more than [`OTHERS_MAX`] of a
    /// CPU (the machine is shared).
    retries: usize,
    echo_sizes: &'static [usize],
    echo_conns: &'static [usize],
    wrk_conns: usize,
    wrk_secs: u64,
    wget_inflight: usize,
    multi_conns: &'static [usize],
}

const FULL: Mode = Mode {
    name: "full",
    warmup: Duration::from_secs(1),
    window: Duration::from_secs(5),
    reps: 2,
    retries: 3,
    echo_sizes: &[1024, 16 * 1024],
    echo_conns: &[50, 500],
    wrk_conns: 50,
    wrk_secs: 5,
    wget_inflight: 200,
    multi_conns: &[50, 500],
};

const QUICK: Mode = Mode {
    name: "quick",
    warmup: Duration::from_millis(300),
    window: Duration::from_secs(1),
    reps: 1,
    retries: 2,
    echo_sizes: &[1024, 16 * 1024],
    echo_conns: &[50, 500],
    wrk_conns: 50,
    wrk_secs: 1,
    wget_inflight: 200,
    multi_conns: &[50, 500],
};

const SMOKE: Mode = Mode {
    name: "smoke",
    warmup: Duration::from_millis(50),
    window: Duration::from_millis(150),
    reps: 1,
    retries: 0,
    echo_sizes: &[1024, 16 * 1024],
    echo_conns: &[8],
    wrk_conns: 8,
    wrk_secs: 1,
    wget_inflight: 16,
    multi_conns: &[8],
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let mut mode = match (bench, quick) {
        (false, _) => SMOKE,
        (true, true) => QUICK,
        (true, false) => FULL,
    };
    if let Some(reps) = std::env::var("NET_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        mode.reps = reps;
    }
    let filter: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let wanted = |case: &str| filter.is_empty() || filter.iter().any(|f| case.contains(f));
    let cores = Cores::detect();
    println!(
        "coring net bench, {} mode: kernel {}, tokio {}, CPUs {:?}: servers on CPU {}, load on \
         CPU {}{}",
        mode.name,
        kernel_release(),
        tokio_version(),
        cores.all,
        cores.server,
        cores.load,
        if cores.server == cores.load {
            " (one CPU only: server and load share it)"
        } else {
            ""
        },
    );
    if !bench {
        println!("smoke run (tiny sizes; `cargo bench --bench net` for the real one)");
    }
    let mut report = String::new();
    if wanted("echo") {
        report += &echo_case(&mode, &cores);
    }
    if wanted("http") {
        report += &http_case(&mode, &cores);
    }
    if wanted("wget") {
        report += &wget_case(&mode, &cores);
    }
    if wanted("multi") {
        report += &multi_case(&mode, &cores);
    }
    println!("\n{report}");
}

// ---------------------------------------------------------------------------------------------
// Measurements: one run, rounds of runs, and their summary.

/// What one measured run gave, per request (round trip, HTTP request, fetch).
#[derive(Clone, Copy)]
struct LoadRun {
    per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    /// The server processes' `utime + stime`.
    server_cpu_us: f64,
    /// Everything the server's CPU did (user, system, irq, softirq, from `/proc/stat`), if the
    /// server had a CPU of its own. Above `server_cpu_us` when softirq work ran outside the
    /// server's own context (in `ksoftirqd`) or interrupts were taken while it slept.
    core_us: f64,
    /// The load generator's (or client's) CPU time.
    client_cpu_us: f64,
    enters: Option<f64>,
    /// How long our processes waited for a CPU another process held, as a fraction of the window
    /// (their run-queue delay, `/proc/<pid>/task/*/schedstat`).
    others: f64,
    /// Failed requests (wget fetches).
    errors: f64,
}

impl Default for LoadRun {
    fn default() -> Self {
        LoadRun {
            per_sec: f64::NAN,
            p50_us: f64::NAN,
            p99_us: f64::NAN,
            server_cpu_us: f64::NAN,
            core_us: f64::NAN,
            client_cpu_us: f64::NAN,
            enters: None,
            others: f64::NAN,
            errors: 0.0,
        }
    }
}

/// Largest run-queue delay of our processes (a fraction of the window) before a run is repeated.
const OTHERS_MAX: f64 = 0.03;

/// Longest wait for a quiet machine before a measurement.
const QUIET_WAIT: Duration = Duration::from_secs(120);

/// Waits (up to [`QUIET_WAIT`]) until the machine has been nearly idle for half a second: the
/// machine is shared, and a compile running next to a benchmark halves its figures.
fn wait_for_quiet(label: &str) {
    let deadline = Instant::now() + QUIET_WAIT;
    let mut said = false;
    loop {
        let before = SysTimes::now();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(500));
        let busy = SysTimes::now().busy_total() - before.busy_total();
        let share = busy as f64 / start.elapsed().as_nanos() as f64;
        if share < 0.1 {
            return;
        }
        if Instant::now() > deadline {
            println!(
                "  {label}: the machine stayed busy ({:.0}% of a CPU); measuring anyway",
                share * 100.0
            );
            return;
        }
        if !said {
            println!(
                "  {label}: waiting for other processes to finish ({:.0}% of a CPU busy)",
                share * 100.0
            );
            said = true;
        }
    }
}

/// Runs `run` until no other process held our CPUs for more than [`OTHERS_MAX`] of its window,
/// at most `1 + mode.retries` times (each after [`wait_for_quiet`]); keeps the least disturbed
/// run otherwise.
fn measured(mode: &Mode, label: &str, mut run: impl FnMut() -> LoadRun) -> LoadRun {
    let mut kept: Option<LoadRun> = None;
    for attempt in 0..=mode.retries {
        if mode.retries > 0 {
            wait_for_quiet(label);
        }
        let r = run();
        if r.others.is_nan() || r.others <= OTHERS_MAX {
            return r;
        }
        println!(
            "  {label}: our processes waited {:.0}% of the window for a CPU held by others; {}",
            r.others * 100.0,
            if attempt < mode.retries {
                "measuring again"
            } else {
                "keeping the least disturbed run"
            }
        );
        if kept.is_none_or(|k| r.others < k.others) {
            kept = Some(r);
        }
    }
    kept.expect("at least one run")
}

/// The runs of one configuration: `rounds[r][s]` is server `s` in round `r`. Servers take turns
/// within a round, so slow drifts of the shared machine hit them alike, and ratios are taken
/// within a round.
struct Rounds {
    rounds: Vec<Vec<LoadRun>>,
}

impl Rounds {
    /// `mode.reps` rounds of `one(kind)` for every `(label, kind)` in `servers`.
    fn run(
        mode: &Mode,
        case: &str,
        servers: &[(&str, &str)],
        mut one: impl FnMut(&str) -> LoadRun,
    ) -> Rounds {
        let mut rounds = Vec::new();
        for _ in 0..mode.reps {
            let round = servers
                .iter()
                .map(|(label, kind)| {
                    let name = format!("{case} {label}");
                    let run = measured(mode, &name, || one(kind));
                    println!(
                        "{name}: {:.0}/s, p99 {:.0} µs, server {:.2} µs (core {:.2}), client \
                         {:.2} µs, enters {}, others {:.1}%",
                        run.per_sec,
                        run.p99_us,
                        run.server_cpu_us,
                        run.core_us,
                        run.client_cpu_us,
                        opt(run.enters, 4),
                        run.others * 100.0,
                    );
                    run
                })
                .collect();
            rounds.push(round);
        }
        Rounds { rounds }
    }

    /// The median over rounds of `f` for server `s`.
    fn median(&self, s: usize, f: impl Fn(&LoadRun) -> f64) -> f64 {
        median(self.rounds.iter().map(|round| f(&round[s])).collect())
    }

    /// The geometric mean over rounds of `f(server s) / f(base)`, where `base` picks the
    /// reference server of each round.
    fn ratio(
        &self,
        s: usize,
        base: impl Fn(&[LoadRun]) -> usize,
        f: impl Fn(&LoadRun) -> f64,
    ) -> f64 {
        let logs: Vec<f64> = self
            .rounds
            .iter()
            .map(|round| (f(&round[s]) / f(&round[base(round)])).ln())
            .collect();
        (logs.iter().sum::<f64>() / logs.len() as f64).exp()
    }

    fn enters(&self, s: usize) -> Option<f64> {
        let values: Vec<f64> = self.rounds.iter().filter_map(|r| r[s].enters).collect();
        (!values.is_empty()).then(|| median(values))
    }

    /// The worst run-queue delay of server `s`'s runs, as a table cell.
    fn others(&self, s: usize) -> String {
        if self.rounds.iter().all(|r| r[s].others.is_nan()) {
            return "n/a".to_owned();
        }
        let worst = self.rounds.iter().map(|r| r[s].others).fold(0.0, f64::max);
        let flag = if worst > OTHERS_MAX { " ⚠" } else { "" };
        format!("{:.1}%{flag}", worst * 100.0)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The first server of every round: tokio current-thread in cases a–c.
fn first(_: &[LoadRun]) -> usize {
    0
}

/// `servers`, plus the raw loop with batched waits (`kind`) when `$NET_BENCH_RAW_BATCH` is set.
fn with_experiment(
    servers: &[(&'static str, &'static str)],
    kind: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut all = servers.to_vec();
    if std::env::var_os("NET_BENCH_RAW_BATCH").is_some() {
        all.push(("raw io_uring loop, batched waits", kind));
    }
    all
}

// ---------------------------------------------------------------------------------------------
// a. Echo ping-pong, one pinned core each for the server and the load generator.

const ECHO_SERVERS: [(&str, &str); 4] = [
    ("tokio current-thread", "echo-tokio"),
    ("coring read/write_all", "echo-coring"),
    ("coring BufRing recv_stream", "echo-coring-ring"),
    ("raw io_uring loop (no runtime)", "echo-raw"),
];

fn echo_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### a. Echo ping-pong (server pinned to one CPU, load generator to the other; medians \
         of {} rounds, ratios averaged over rounds)\n\n\
         | msg | conns | server | round trips/s | vs tokio | p50 µs | p99 µs | server CPU µs/RT \
         | vs tokio | server core µs/RT | load CPU µs/RT | enters/RT | others |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        mode.reps
    );
    for &size in mode.echo_sizes {
        for &conns in mode.echo_conns {
            let case = format!("echo {} x{conns}", kib(size));
            let servers = with_experiment(&ECHO_SERVERS, "echo-raw-batch");
            let rounds = Rounds::run(mode, &case, &servers, |kind| {
                echo_run(kind, size, conns, mode, cores, true)
            });
            for (s, (label, _)) in servers.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| {} | {conns} | {label} | {:.0} | {:.3}× | {:.0} | {:.0} | {:.2} | {:.3}× | \
                     {:.2} | {:.2} | {} | {} |",
                    kib(size),
                    rounds.median(s, |r| r.per_sec),
                    rounds.ratio(s, first, |r| r.per_sec),
                    rounds.median(s, |r| r.p50_us),
                    rounds.median(s, |r| r.p99_us),
                    rounds.median(s, |r| r.server_cpu_us),
                    rounds.ratio(s, first, |r| r.server_cpu_us),
                    rounds.median(s, |r| r.core_us),
                    rounds.median(s, |r| r.client_cpu_us),
                    opt(rounds.enters(s), 4),
                    rounds.others(s),
                );
            }
        }
    }
    out.push('\n');
    out
}

/// Starts `server_kind`, drives it with the load generator, stops it. `pinned`: server and load
/// generator each on a CPU of their own; otherwise both may run anywhere.
fn echo_run(
    server_kind: &str,
    size: usize,
    conns: usize,
    mode: &Mode,
    cores: &Cores,
    pinned: bool,
) -> LoadRun {
    let (server_pin, load_pin) = if pinned {
        (Pin::Cpu(cores.server), Pin::Cpu(cores.load))
    } else {
        (Pin::Any, Pin::Any)
    };
    let mut server = ServerProc::start(server_kind, server_pin);
    let args = [
        "load".to_owned(),
        server.port.to_string(),
        conns.to_string(),
        size.to_string(),
        mode.warmup.as_millis().to_string(),
        mode.window.as_millis().to_string(),
        server.pid().to_string(),
    ];
    let mut load = spawn_self(&args, load_pin);
    let mut stdout = BufReader::new(load.stdout.take().expect("load stdout"));
    let mut marks = Vec::new();
    let mut result = None;
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).expect("read load output") == 0 {
            break;
        }
        let line = line.trim();
        if line == "MARK" {
            marks.push(server.mark());
        } else if line.starts_with("RESULT ") {
            result = Some(line.to_owned());
        }
    }
    let status = load.wait().expect("wait for the load generator");
    server.stop();
    let result = result
        .unwrap_or_else(|| panic!("load generator for {server_kind} printed no RESULT ({status})"));
    let rts = field(&result, "rts");
    let window = Window::parse(&result);
    let enters = match marks.as_slice() {
        [Some(a), Some(b)] => Some((b - a) as f64 / rts),
        _ => None,
    };
    LoadRun {
        per_sec: rts / window.secs,
        p50_us: field(&result, "p50_ns") / 1e3,
        p99_us: field(&result, "p99_ns") / 1e3,
        server_cpu_us: window.server_cpu * 1e6 / rts,
        core_us: if pinned {
            window.busy(cores.server) * 1e6 / rts
        } else {
            f64::NAN
        },
        client_cpu_us: window.client_cpu * 1e6 / rts,
        enters,
        // Unpinned, the servers and the load generator wait for each other's CPUs.
        others: if pinned { window.others } else { f64::NAN },
        errors: 0.0,
    }
}

// ---------------------------------------------------------------------------------------------
// b. HTTP/1.1 keep-alive hello with wrk.

const HTTP_SERVERS: [(&str, &str); 3] = [
    ("tokio current-thread", "http-tokio"),
    ("coring", "http-coring"),
    ("raw io_uring loop (no runtime)", "http-raw"),
];

/// Prints why a case did not run and records it in `$CORING_SKIP_LOG` (set by `ci/test`, which
/// counts skips; libtest's capture does not hide this binary's output, but a count needs a file).
fn skipped(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("CORING_SKIP_LOG") {
        use std::io::Write as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "SKIPPED bench net {line}");
        }
    }
}

fn http_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### b. HTTP/1.1 keep-alive hello, `wrk -t1 -c{} -d{}s` (server and wrk pinned; medians \
         of {} rounds)\n\n",
        mode.wrk_conns, mode.wrk_secs, mode.reps
    );
    if Command::new("wrk").arg("--version").output().is_err() {
        out += "skipped: `wrk` is not installed (`apt-get install -y wrk`).\n\n";
        skipped("http: skipped, wrk not found");
        return out;
    }
    let mut notes = Vec::new();
    let servers = with_experiment(&HTTP_SERVERS, "http-raw-batch");
    let rounds = Rounds::run(mode, "http", &servers, |kind| {
        let mut server = ServerProc::start(kind, Pin::Cpu(cores.server));
        let before = server.mark();
        let start = Probe::take(&[server.pid()], true);
        let wrk = wrk_run(server.port, mode, Pin::Cpu(cores.load));
        let end = Probe::take(&[server.pid()], true);
        let after = server.mark();
        server.stop();
        let Some(wrk) = wrk else {
            notes.push(format!("{kind}: wrk failed"));
            return LoadRun::default();
        };
        if !wrk.errors.is_empty() {
            notes.push(format!("{kind}: {}", wrk.errors));
        }
        // This process's CPU time stands in for the client's; wrk's own comes from wait4.
        let window = Window::parse(&end.fields_since(&start));
        let n = wrk.requests;
        LoadRun {
            per_sec: wrk.per_sec,
            p50_us: wrk.p50_us,
            p99_us: wrk.p99_us,
            server_cpu_us: window.server_cpu * 1e6 / n,
            core_us: window.busy(cores.server) * 1e6 / n,
            client_cpu_us: wrk.cpu.as_secs_f64() * 1e6 / n,
            enters: before.zip(after).map(|(a, b)| (b - a) as f64 / n),
            others: window.others,
            errors: 0.0,
        }
    });
    out += "| server | req/s | vs tokio | p50 µs | p99 µs | server CPU µs/req | vs tokio \
            | server core µs/req | wrk CPU µs/req | enters/req | others |\n\
            |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (s, (label, _)) in servers.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.3}× | {:.0} | {:.0} | {:.2} | {:.3}× | {:.2} | {:.2} | {} | \
             {} |",
            rounds.median(s, |r| r.per_sec),
            rounds.ratio(s, first, |r| r.per_sec),
            rounds.median(s, |r| r.p50_us),
            rounds.median(s, |r| r.p99_us),
            rounds.median(s, |r| r.server_cpu_us),
            rounds.ratio(s, first, |r| r.server_cpu_us),
            rounds.median(s, |r| r.core_us),
            rounds.median(s, |r| r.client_cpu_us),
            opt(rounds.enters(s), 4),
            rounds.others(s),
        );
    }
    for note in notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out.push('\n');
    out
}

struct WrkRun {
    requests: f64,
    per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    errors: String,
    /// wrk's own CPU time.
    cpu: Duration,
}

fn wrk_run(port: u16, mode: &Mode, pin: Pin) -> Option<WrkRun> {
    use std::io::Read as _;
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1".to_owned(),
        format!("-c{}", mode.wrk_conns),
        format!("-d{}s", mode.wrk_secs),
        "--latency".to_owned(),
        format!("http://127.0.0.1:{port}/"),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = pin.spawn(&mut cmd).ok()?;
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("wrk stdout")
        .read_to_string(&mut text)
        .ok()?;
    let (success, cpu) = wait_with_cpu(child);
    if !success {
        eprintln!("wrk failed: {text}");
        return None;
    }
    let mut run = WrkRun {
        requests: f64::NAN,
        per_sec: f64::NAN,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        errors: String::new(),
        cpu,
    };
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            run.per_sec = rest.trim().parse().unwrap_or(f64::NAN);
        } else if line.contains(" requests in ") {
            run.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(f64::NAN);
        } else if let Some(rest) = line.strip_prefix("50%") {
            run.p50_us = wrk_micros(rest.trim());
        } else if let Some(rest) = line.strip_prefix("99%") {
            run.p99_us = wrk_micros(rest.trim());
        } else if line.starts_with("Socket errors") || line.starts_with("Non-2xx") {
            run.errors += line;
        }
    }
    Some(run)
}

/// Reaps `child` with `wait4`: whether it exited with status 0, and the CPU time it used.
fn wait_with_cpu(child: Child) -> (bool, Duration) {
    let mut status = 0;
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid and writable for the call; `child` is our child and
    // has not been reaped (std reaps only in `wait`/`try_wait`, which are not called on it).
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    if rc < 0 {
        return (false, Duration::ZERO);
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, tv(usage.ru_utime) + tv(usage.ru_stime))
}

/// A wrk duration such as `812.00us`, `1.23ms` or `2.00s`, in microseconds.
fn wrk_micros(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let value: f64 = text[..split].parse().unwrap_or(f64::NAN);
    match &text[split..] {
        "us" => value,
        "ms" => value * 1e3,
        "s" => value * 1e6,
        "m" => value * 60e6,
        _ => f64::NAN,
    }
}

// ---------------------------------------------------------------------------------------------
// c. The seed's wget at scale: connect, GET, head, close, against four nginx servers.

const WGET_CLIENTS: [(&str, &str); 2] = [("tokio current-thread", "tokio"), ("coring", "coring")];

fn wget_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### c. wget at scale: {} fetches in flight against 4 nginx (nginx pinned to one CPU, \
         client to the other; medians of {} rounds)\n\n",
        mode.wget_inflight, mode.reps
    );
    let Some(nginx) = find_nginx() else {
        out += "skipped: nginx is not installed (`apt-get install -y nginx`).\n\n";
        skipped("wget: skipped, nginx not found");
        return out;
    };
    let farm = match NginxFarm::start(&nginx, 4, Pin::Cpu(cores.server)) {
        Ok(farm) => farm,
        Err(err) => {
            let _ = writeln!(out, "skipped: nginx did not start: {err}\n");
            skipped(&format!("wget: skipped, nginx did not start: {err}"));
            return out;
        }
    };
    let addrs = farm
        .addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let pids = farm
        .children
        .iter()
        .map(|c| c.id().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let rounds = Rounds::run(mode, "wget", &WGET_CLIENTS, |runtime| {
        let args = [
            "wget".to_owned(),
            runtime.to_owned(),
            addrs.clone(),
            mode.wget_inflight.to_string(),
            mode.warmup.as_millis().to_string(),
            mode.window.as_millis().to_string(),
            pids.clone(),
        ];
        let output = spawn_self(&args, Pin::Cpu(cores.load))
            .wait_with_output()
            .expect("wget client");
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .unwrap_or_else(|| panic!("wget {runtime} printed no RESULT: {text}"));
        let fetches = field(line, "fetches");
        let window = Window::parse(line);
        LoadRun {
            per_sec: fetches / window.secs,
            server_cpu_us: window.server_cpu * 1e6 / fetches,
            core_us: window.busy(cores.server) * 1e6 / fetches,
            client_cpu_us: window.client_cpu * 1e6 / fetches,
            enters: line
                .contains("enters=")
                .then(|| field(line, "enters") / fetches),
            others: window.others,
            errors: field(line, "errors"),
            ..LoadRun::default()
        }
    });
    drop(farm);
    out += "| client | fetches/s | vs tokio | client CPU µs/fetch | vs tokio | nginx CPU µs/fetch \
            | errors | enters/fetch | others |\n\
            |---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (s, (label, _)) in WGET_CLIENTS.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.3}× | {:.2} | {:.3}× | {:.2} | {:.0} | {} | {} |",
            rounds.median(s, |r| r.per_sec),
            rounds.ratio(s, first, |r| r.per_sec),
            rounds.median(s, |r| r.client_cpu_us),
            rounds.ratio(s, first, |r| r.client_cpu_us),
            rounds.median(s, |r| r.server_cpu_us),
            rounds.median(s, |r| r.errors),
            opt(rounds.enters(s), 3),
            rounds.others(s),
        );
    }
    out.push('\n');
    out
}

fn find_nginx() -> Option<String> {
    ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|path| {
            Command::new(path)
                .arg("-v")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_owned)
}

/// nginx servers in a temporary directory, one per loopback address 127.0.0.1..=N; killed and
/// cleaned up on drop.
struct NginxFarm {
    dir: std::path::PathBuf,
    children: Vec<Child>,
    addrs: Vec<SocketAddr>,
}

impl NginxFarm {
    fn start(nginx: &str, count: usize, pin: Pin) -> io::Result<NginxFarm> {
        let dir = std::env::temp_dir().join(format!("coring-net-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut farm = NginxFarm {
            dir,
            children: Vec::new(),
            addrs: Vec::new(),
        };
        for i in 0..count {
            let ip = format!("127.0.0.{}", i + 1);
            let port = std::net::TcpListener::bind((ip.as_str(), 0))?
                .local_addr()?
                .port();
            let addr: SocketAddr = format!("{ip}:{port}").parse().expect("address");
            let d = farm.dir.display();
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx-{i}.pid;\n\
                 error_log {d}/error-{i}.log error;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  default_type text/plain;\n\
                 client_body_temp_path {d}/body-{i};\n  proxy_temp_path {d}/proxy-{i};\n\
                 fastcgi_temp_path {d}/fastcgi-{i};\n  uwsgi_temp_path {d}/uwsgi-{i};\n\
                 scgi_temp_path {d}/scgi-{i};\n\
                 server {{ listen {addr} backlog=4096; return 200 \"hello\\n\"; }}\n}}\n"
            );
            let path = farm.dir.join(format!("nginx-{i}.conf"));
            std::fs::write(&path, conf)?;
            let mut cmd = Command::new(nginx);
            cmd.arg("-p")
                .arg(&farm.dir)
                .arg("-e")
                .arg(farm.dir.join(format!("error-{i}.log")))
                .arg("-c")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            farm.children.push(pin.spawn(&mut cmd)?);
            farm.addrs.push(addr);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, addr) in farm.addrs.iter().enumerate() {
            while std::net::TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = farm.children[i].try_wait() {
                    let log = std::fs::read_to_string(farm.dir.join(format!("error-{i}.log")))
                        .unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "nginx {i} exited ({status}): {log}"
                    )));
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "nginx {i} never listened on {addr}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(farm)
    }
}

impl Drop for NginxFarm {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// d. Echo on two workers.

const MULTI_SERVERS: [(&str, &str); 3] = [
    ("tokio multi-thread, 2 workers", "echo2-tokio-mt"),
    ("2 tokio current-thread, SO_REUSEPORT", "echo2-tokio-ct"),
    ("coring build_multi(2), SO_REUSEPORT", "echo2-coring"),
];

fn multi_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### d. Echo on two workers, 1 KiB (load generator NOT pinned: it shares the two CPUs \
         with the servers; medians of {} rounds; ratios against the faster tokio set-up of each \
         round)\n\n\
         | msg | conns | server | round trips/s | vs best tokio | p50 µs | p99 µs | server CPU \
         µs/RT | vs that tokio | load CPU µs/RT | others |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        mode.reps
    );
    let size = 1024;
    // The faster of the two tokio set-ups in each round.
    let best_tokio = |round: &[LoadRun]| usize::from(round[1].per_sec > round[0].per_sec);
    for &conns in mode.multi_conns {
        let case = format!("multi {} x{conns}", kib(size));
        let rounds = Rounds::run(mode, &case, &MULTI_SERVERS, |kind| {
            echo_run(kind, size, conns, mode, cores, false)
        });
        for (s, (label, _)) in MULTI_SERVERS.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {conns} | {label} | {:.0} | {:.3}× | {:.0} | {:.0} | {:.2} | {:.3}× | \
                 {:.2} | {} |",
                kib(size),
                rounds.median(s, |r| r.per_sec),
                rounds.ratio(s, best_tokio, |r| r.per_sec),
                rounds.median(s, |r| r.p50_us),
                rounds.median(s, |r| r.p99_us),
                rounds.median(s, |r| r.server_cpu_us),
                rounds.ratio(s, best_tokio, |r| r.server_cpu_us),
                rounds.median(s, |r| r.client_cpu_us),
                rounds.others(s),
            );
        }
    }
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------------
// Child processes: servers, the echo load generator, wget clients.

fn child(args: &[String]) {
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("child: missing argument {i} in {args:?}"))
    };
    let num = |i: usize| -> u64 {
        arg(i)
            .parse()
            .unwrap_or_else(|_| panic!("child: argument {i} of {args:?} is not a number"))
    };
    match arg(0) {
        "server" => server(arg(1)),
        "load" => load_echo(&LoadArgs {
            port: num(1) as u16,
            conns: num(2) as usize,
            size: num(3) as usize,
            warmup: Duration::from_millis(num(4)),
            window: Duration::from_millis(num(5)),
            server_pid: num(6) as u32,
        }),
        "wget" => {
            let addrs: Vec<SocketAddr> = arg(2)
                .split(',')
                .map(|a| a.parse().expect("wget address"))
                .collect();
            let run = WgetArgs {
                addrs,
                inflight: num(3) as usize,
                warmup: Duration::from_millis(num(4)),
                window: Duration::from_millis(num(5)),
                nginx: arg(6)
                    .split(',')
                    .map(|p| p.parse().expect("nginx pid"))
                    .collect(),
            };
            match arg(1) {
                "coring" => wget_coring(run),
                "tokio" => wget_tokio(run),
                other => panic!("unknown wget runtime {other}"),
            }
        }
        other => panic!("unknown child {other}"),
    }
}

/// What a connection handler does with its connection.
#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Echo,
    EchoRing,
    Http,
}

fn server(kind: &str) {
    match kind {
        "echo-coring" => coring_server(Proto::Echo),
        "echo-coring-ring" => coring_server(Proto::EchoRing),
        "http-coring" => coring_server(Proto::Http),
        "echo-tokio" => tokio_server(Proto::Echo),
        "http-tokio" => tokio_server(Proto::Http),
        "echo2-coring" => coring_multi_server(),
        "echo2-tokio-mt" => tokio_multi_server(),
        "echo2-tokio-ct" => tokio_two_runtimes_server(),
        "echo-raw" => raw_server(Proto::Echo, None),
        "http-raw" => raw_server(Proto::Http, None),
        // Experiments: wait for up to N completions, at most µs microseconds (`min_wait_usec`),
        // N,µs from $NET_BENCH_RAW_BATCH (default 32,50).
        "echo-raw-batch" => raw_server(Proto::Echo, Some(raw_batch())),
        "http-raw-batch" => raw_server(Proto::Http, Some(raw_batch())),
        other => panic!("unknown server {other}"),
    }
}

/// Tells the parent the server listens, on which port.
fn ready(port: u16, note: &str) {
    println!("READY port={port} mode={note}");
    io::stdout().flush().expect("stdout");
}

/// Reads the parent's commands on stdin in a thread: each `mark` line calls `mark`, which must
/// answer with one `STATS` line; end of input ends the process.
fn control_thread(mark: impl Fn() + Send + 'static) {
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            match line.as_deref() {
                Ok("mark") => mark(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
}

fn print_stats(stats: &str) {
    println!("STATS {stats}");
    io::stdout().flush().expect("stdout");
}

/// A listening std socket with a 4096 backlog, optionally with `SO_REUSEPORT`.
fn std_listener(addr: SocketAddr, reuse_port: bool) -> std::net::TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    if reuse_port {
        socket.set_reuse_port(true).expect("SO_REUSEPORT");
    }
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    socket.into()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// --- coring servers ---------------------------------------------------------------------------

fn coring_server(proto: Proto) {
    use coring::net::{ListenOptions, TcpListener};
    let runtime = coring::Builder::new()
        .entries(CORING_ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("{err}"));
    let listener =
        TcpListener::bind_with("127.0.0.1:0", &ListenOptions::new().backlog(4096)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let (tx, mut rx) = coring::sync::mpsc::unbounded_channel::<()>();
    control_thread(move || {
        let _ = tx.send(());
    });
    ready(port, &runtime.ring_mode().to_string());
    runtime.block_on(async {
        let ring = (proto == Proto::EchoRing).then(|| {
            coring::buf::BufRing::new(RING_BUFFERS, ECHO_BUF).unwrap_or_else(|e| panic!("{e}"))
        });
        coring::spawn(async move {
            let mut incoming = listener.incoming();
            while let Some(stream) = incoming.next().await {
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(err) => {
                        eprintln!("coring accept: {err}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match (proto, &ring) {
                    (Proto::EchoRing, Some(ring)) => {
                        coring::spawn(coring_echo_ring(stream, ring.clone()))
                    }
                    (Proto::Http, _) => coring::spawn(coring_http(stream)),
                    _ => coring::spawn(coring_echo(stream)),
                };
            }
        });
        while rx.recv().await.is_some() {
            let stats = runtime.metrics();
            print_stats(&format!(
                "enters={} completions={} pushed={}",
                stats.enters, stats.completions, stats.sqes_submitted
            ));
        }
    });
}

/// Echo with one reused `Vec`: read what came, write it back.
async fn coring_echo(stream: coring::net::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(ECHO_BUF);
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let (written, b) = stream.write_all(b).await;
        written?;
        buf = b;
    }
}

/// Echo from a multishot receive into the shared buffer ring: each chunk is a `RingBuf`, written
/// back as it is (no copy) and handed back to the ring once the send is done.
async fn coring_echo_ring(
    stream: coring::net::TcpStream,
    ring: coring::buf::BufRing,
) -> io::Result<()> {
    let mut chunks = stream.recv_stream(&ring);
    while let Some(chunk) = chunks.next().await {
        let (written, chunk) = stream.write_all(chunk?).await;
        written?;
        drop(chunk);
    }
    Ok(())
}

async fn coring_http(stream: coring::net::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(HTTP_BUF);
    let mut pending = Vec::new();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        if n? == 0 {
            return Ok(());
        }
        match take_requests(&mut pending, &buf)? {
            0 => {}
            1 => stream.write_all(RESPONSE).await.0?,
            k => stream.write_all(RESPONSE.repeat(k)).await.0?,
        }
    }
}

fn coring_multi_server() {
    use std::sync::{Arc, Mutex};
    let first = std_listener(loopback(0), true);
    let port = first.local_addr().expect("local_addr").port();
    let second = std_listener(loopback(port), true);
    let listeners = Arc::new(Mutex::new(vec![Some(first), Some(second)]));
    let runtime = coring::Builder::new()
        .entries(CORING_ENTRIES)
        .workers(2)
        .pin_cores(true)
        .build_multi()
        .unwrap_or_else(|err| panic!("{err}"));
    control_thread(|| print_stats(""));
    ready(port, "coring-2-workers");
    runtime.run_on_all(move |worker| {
        let listener = listeners.lock().expect("listeners")[worker]
            .take()
            .expect("one listener per worker");
        async move {
            let listener = coring::net::TcpListener::from_std(listener).expect("from_std");
            let mut incoming = listener.incoming();
            while let Some(stream) = incoming.next().await {
                if let Ok(stream) = stream {
                    let _ = stream.set_nodelay(true);
                    coring::spawn(coring_echo(stream));
                }
            }
        }
    });
}

/// `(completions, µs)` for the batching raw server, from `$NET_BENCH_RAW_BATCH` ("32,50").
fn raw_batch() -> (u32, u32) {
    let spec = std::env::var("NET_BENCH_RAW_BATCH").unwrap_or_default();
    let mut parts = spec.split(',').map(|p| p.trim().parse().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(want), Some(usec)) => (want, usec),
        _ => (32, 50),
    }
}

// --- the raw io_uring server: no runtime -------------------------------------------------------

/// One connection of the raw server.
struct RawConn {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
    /// HTTP: bytes of an incomplete request head.
    pending: Vec<u8>,
    /// HTTP: responses to pipelined requests.
    out: Vec<u8>,
    /// What the current send sends: a pointer into `buf`, `out` or [`RESPONSE`], and its length.
    send_ptr: *const u8,
    send_len: usize,
    sent: usize,
}

const RAW_ACCEPT: u64 = 0;
const RAW_CONTROL: u64 = 1;
const RAW_RECV: u64 = 2;
const RAW_SEND: u64 = 3;

/// The practical limit: a hand-written io_uring loop with coring's ring flags
/// (SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG | SUBMIT_ALL, 1024 entries), a multishot accept,
/// and per connection one `recv` into its own buffer and one `send` at a time. All of a turn's
/// entries go in one `io_uring_enter`, which then waits for one completion — or, with `batch`
/// = `(n, µs)`, for `n` completions but at most `µs` microseconds (`min_wait_usec`, Linux 6.12).
fn raw_server(proto: Proto, batch: Option<(u32, u32)>) {
    use io_uring::{cqueue, squeue};
    use std::os::fd::{AsRawFd, FromRawFd};
    let listener = std_listener(loopback(0), false);
    let port = listener.local_addr().expect("local_addr").port();
    let mut ring = IoUring::builder()
        .setup_cqsize(4 * CORING_ENTRIES)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_submit_all()
        .build(CORING_ENTRIES)
        .expect("io_uring with SINGLE_ISSUER | DEFER_TASKRUN");
    // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
    let control = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(control >= 0, "eventfd: {}", io::Error::last_os_error());
    control_thread(move || {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live local buffer to the eventfd.
        let _ = unsafe { libc::write(control, one.as_ptr().cast(), one.len()) };
    });
    ready(port, if batch.is_some() { "raw-batch" } else { "raw" });
    let accept = || {
        opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
            .build()
            .user_data(RAW_ACCEPT)
    };
    let watch_control = || {
        opcode::PollAdd::new(types::Fd(control), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(RAW_CONTROL)
    };
    let recv = |key: usize, c: &mut RawConn| {
        opcode::Recv::new(
            types::Fd(c.stream.as_raw_fd()),
            c.buf.as_mut_ptr(),
            c.buf.len() as u32,
        )
        .build()
        .user_data(((key as u64) << 2) | RAW_RECV)
    };
    let send = |key: usize, c: &RawConn| {
        // SAFETY: `sent < send_len`, inside the memory `send_ptr` points at.
        let ptr = unsafe { c.send_ptr.add(c.sent) };
        opcode::Send::new(
            types::Fd(c.stream.as_raw_fd()),
            ptr,
            (c.send_len - c.sent) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(((key as u64) << 2) | RAW_SEND)
    };
    let mut conns: slab::Slab<RawConn> = slab::Slab::with_capacity(1024);
    let mut queue: Vec<squeue::Entry> = vec![accept(), watch_control()];
    let mut reaped: Vec<(u64, i32, u32)> = Vec::with_capacity(4096);
    let mut enters = 0u64;
    let mut completions = 0u64;
    loop {
        {
            let mut sq = ring.submission();
            for entry in queue.drain(..) {
                // SAFETY: every entry points into a connection's heap buffers (which stay in
                // place while the connection is in the slab, and a connection leaves the slab
                // only when it has no operation in flight), into `RESPONSE`, or at nothing; the
                // queue never holds more than one entry per connection plus two.
                unsafe { sq.push(&entry).expect("submission queue full") };
            }
        }
        enters += 1;
        let entered = match batch {
            None => ring.submit_and_wait(1),
            Some((want, min_wait)) => {
                let args = types::SubmitArgs::new().min_wait_usec(min_wait);
                ring.submitter().submit_with_args(want as usize, &args)
            }
        };
        match entered {
            Ok(_) => {}
            Err(err) if matches!(err.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(err) => panic!("raw server: io_uring_enter: {err}"),
        }
        reaped.extend(
            ring.completion()
                .map(|cqe: cqueue::Entry| (cqe.user_data(), cqe.result(), cqe.flags())),
        );
        completions += reaped.len() as u64;
        for (user_data, result, flags) in reaped.drain(..) {
            let key = (user_data >> 2) as usize;
            match user_data & 3 {
                RAW_ACCEPT => {
                    if result >= 0 {
                        // SAFETY: the kernel just created this fd for us; nobody else owns it.
                        let stream = unsafe { std::net::TcpStream::from_raw_fd(result) };
                        let _ = stream.set_nodelay(true);
                        let entry = conns.vacant_entry();
                        let key = entry.key();
                        let conn = entry.insert(RawConn {
                            stream,
                            buf: vec![
                                0;
                                if proto == Proto::Http {
                                    HTTP_BUF
                                } else {
                                    ECHO_BUF
                                }
                            ],
                            pending: Vec::new(),
                            out: Vec::new(),
                            send_ptr: std::ptr::null(),
                            send_len: 0,
                            sent: 0,
                        });
                        queue.push(recv(key, conn));
                    }
                    if !cqueue::more(flags) {
                        queue.push(accept());
                    }
                }
                RAW_CONTROL => {
                    let mut value = [0u8; 8];
                    // SAFETY: reads at most 8 bytes into a live local buffer.
                    let _ = unsafe { libc::read(control, value.as_mut_ptr().cast(), 8) };
                    print_stats(&format!("enters={enters} completions={completions}"));
                    if !cqueue::more(flags) {
                        queue.push(watch_control());
                    }
                }
                RAW_RECV => {
                    let conn = &mut conns[key];
                    if result <= 0 {
                        conns.remove(key);
                        continue;
                    }
                    let n = result as usize;
                    conn.sent = 0;
                    if proto == Proto::Http {
                        let data = &conn.buf[..n];
                        match take_requests(&mut conn.pending, data) {
                            Ok(0) => {
                                queue.push(recv(key, conn));
                                continue;
                            }
                            Ok(1) => {
                                conn.send_ptr = RESPONSE.as_ptr();
                                conn.send_len = RESPONSE.len();
                            }
                            Ok(k) => {
                                conn.out = RESPONSE.repeat(k);
                                conn.send_ptr = conn.out.as_ptr();
                                conn.send_len = conn.out.len();
                            }
                            Err(_) => {
                                conns.remove(key);
                                continue;
                            }
                        }
                    } else {
                        conn.send_ptr = conn.buf.as_ptr();
                        conn.send_len = n;
                    }
                    queue.push(send(key, conn));
                }
                _ => {
                    let conn = &mut conns[key];
                    if result < 0 {
                        conns.remove(key);
                        continue;
                    }
                    conn.sent += result as usize;
                    if conn.sent < conn.send_len {
                        queue.push(send(key, conn));
                    } else {
                        queue.push(recv(key, conn));
                    }
                }
            }
        }
    }
}

// --- tokio servers ----------------------------------------------------------------------------

fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn tokio_server(proto: Proto) {
    let runtime = tokio_current_thread();
    let listener = std_listener(loopback(0), false);
    let port = listener.local_addr().expect("local_addr").port();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    control_thread(move || {
        let _ = tx.send(());
    });
    ready(port, "tokio-current-thread");
    runtime.block_on(async move {
        tokio::spawn(tokio_accept_loop(listener, proto));
        while rx.recv().await.is_some() {
            print_stats("");
        }
    });
}

async fn tokio_accept_loop(listener: std::net::TcpListener, proto: Proto) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                eprintln!("tokio accept: {err}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match proto {
            Proto::Http => tokio::spawn(tokio_http(stream)),
            _ => tokio::spawn(tokio_echo(stream)),
        };
    }
}

async fn tokio_echo(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; ECHO_BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn tokio_http(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; HTTP_BUF];
    let mut pending = Vec::new();
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        match take_requests(&mut pending, &buf[..n])? {
            0 => {}
            1 => stream.write_all(RESPONSE).await?,
            k => stream.write_all(&RESPONSE.repeat(k)).await?,
        }
    }
}

fn tokio_multi_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = std_listener(loopback(0), false);
    let port = listener.local_addr().expect("local_addr").port();
    control_thread(|| print_stats(""));
    ready(port, "tokio-multi-thread-2");
    runtime.block_on(tokio_accept_loop(listener, Proto::Echo));
}

fn tokio_two_runtimes_server() {
    let first = std_listener(loopback(0), true);
    let port = first.local_addr().expect("local_addr").port();
    let second = std_listener(loopback(port), true);
    let threads: Vec<_> = [first, second]
        .into_iter()
        .enumerate()
        .map(|(core, listener)| {
            std::thread::spawn(move || {
                // Pinned like coring's workers (`pin_cores(true)`): worker N on CPU N.
                let _ = set_affinity(&cpu_set(&[core]));
                tokio_current_thread().block_on(tokio_accept_loop(listener, Proto::Echo));
            })
        })
        .collect();
    control_thread(|| print_stats(""));
    ready(port, "tokio-2x-current-thread");
    for thread in threads {
        let _ = thread.join();
    }
}

/// Appends `data` to `pending`, removes the complete request heads (up to a blank line) and
/// returns how many there were. A head longer than [`HEAD_MAX`] is `InvalidData`.
fn take_requests(pending: &mut Vec<u8>, data: &[u8]) -> io::Result<usize> {
    pending.extend_from_slice(data);
    let mut start = 0;
    let mut count = 0;
    while let Some(end) = head_end(&pending[start..]) {
        start += end;
        count += 1;
    }
    pending.drain(..start);
    if pending.len() > HEAD_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request head too long",
        ));
    }
    Ok(count)
}

/// The length of the head at the start of `data`, through its blank line, if it is complete.
fn head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

// --- the echo load generator ------------------------------------------------------------------

struct LoadArgs {
    port: u16,
    conns: usize,
    size: usize,
    warmup: Duration,
    window: Duration,
    server_pid: u32,
}

/// One client connection of the load generator.
struct Conn {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
    sent: usize,
    got: usize,
    started: Instant,
}

const SEND: u64 = 0;
const RECV: u64 = 1;

/// A bare io_uring loop (SINGLE_ISSUER | DEFER_TASKRUN, no runtime): every connection sends a
/// message and reads the echo, one message in flight per connection, all connections in one
/// `io_uring_enter` per turn. Prints `MARK` at the start and the end of the measured window (the
/// parent samples the server's counters then) and one `RESULT` line, then exits.
fn load_echo(args: &LoadArgs) {
    let addr = loopback(args.port);
    let payload = vec![0x5a_u8; args.size];
    let mut conns: Vec<Conn> = (0..args.conns)
        .map(|_| {
            let stream = std::net::TcpStream::connect(addr).expect("connect to the echo server");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            Conn {
                stream,
                buf: vec![0; args.size],
                sent: 0,
                got: 0,
                started: Instant::now(),
            }
        })
        .collect();
    let entries = (2 * args.conns + 8).next_power_of_two() as u32;
    let mut ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries * 2)
        .build(entries)
        .or_else(|_| IoUring::builder().setup_cqsize(entries * 2).build(entries))
        .expect("io_uring for the load generator");
    let send = |c: &mut Conn, i: usize| {
        use std::os::fd::AsRawFd;
        // SAFETY: `payload` outlives every operation (the process exits at the end of this
        // function, before anything is dropped) and `sent < size`.
        let ptr = unsafe { payload.as_ptr().add(c.sent) };
        opcode::Send::new(
            types::Fd(c.stream.as_raw_fd()),
            ptr,
            (args.size - c.sent) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(((i as u64) << 1) | SEND)
    };
    let recv = |c: &mut Conn, i: usize| {
        use std::os::fd::AsRawFd;
        // SAFETY: as above: the connection's buffer never moves (`conns` is never resized) and
        // lives until the process exits; `got < size`.
        let ptr = unsafe { c.buf.as_mut_ptr().add(c.got) };
        opcode::Recv::new(
            types::Fd(c.stream.as_raw_fd()),
            ptr,
            (args.size - c.got) as u32,
        )
        .build()
        .user_data(((i as u64) << 1) | RECV)
    };
    let mut queue = Vec::with_capacity(2 * args.conns);
    for (i, c) in conns.iter_mut().enumerate() {
        queue.push(send(c, i));
        queue.push(recv(c, i));
    }
    let mut reaped: Vec<(u64, i32)> = Vec::with_capacity(2 * args.conns);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut phase_end = Instant::now() + args.warmup;
    let mut round_trips = 0u64;
    // Taken when the measured window starts.
    let mut start: Option<Probe> = None;
    loop {
        {
            let mut sq = ring.submission();
            for entry in queue.drain(..) {
                // SAFETY: each entry points into `payload` or a connection's buffer, both alive
                // and in place until the process exits; at most two entries per connection are
                // ever in flight, and the queue holds twice the connection count.
                unsafe { sq.push(&entry).expect("submission queue full") };
            }
        }
        let wait = phase_end
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let ts = types::Timespec::from(wait);
        let submit_args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(1, &submit_args) {
            Ok(_) => {}
            Err(err) if matches!(err.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(err) => panic!("load generator: io_uring_enter: {err}"),
        }
        reaped.extend(
            ring.completion()
                .map(|cqe: io_uring::cqueue::Entry| (cqe.user_data(), cqe.result())),
        );
        let now = Instant::now();
        for (user_data, result) in reaped.drain(..) {
            let i = (user_data >> 1) as usize;
            let c = &mut conns[i];
            if result <= 0 {
                panic!(
                    "load generator: connection {i}: {} returned {}",
                    if user_data & 1 == SEND {
                        "send"
                    } else {
                        "recv"
                    },
                    if result == 0 {
                        "end of file".to_owned()
                    } else {
                        io::Error::from_raw_os_error(-result).to_string()
                    }
                );
            }
            if user_data & 1 == SEND {
                c.sent += result as usize;
                if c.sent < args.size {
                    queue.push(send(c, i));
                    continue;
                }
            } else {
                c.got += result as usize;
                if c.got < args.size {
                    queue.push(recv(c, i));
                    continue;
                }
            }
            if c.sent == args.size && c.got == args.size {
                if start.is_some() {
                    round_trips += 1;
                    let nanos = now.duration_since(c.started).as_nanos();
                    latencies.push(u32::try_from(nanos).unwrap_or(u32::MAX));
                }
                c.sent = 0;
                c.got = 0;
                c.started = now;
                queue.push(send(c, i));
                queue.push(recv(c, i));
            }
        }
        if now >= phase_end {
            let probe = Probe::take(&[args.server_pid], true);
            println!("MARK");
            if let Some(start) = &start {
                latencies.sort_unstable();
                let pct = |p: usize| {
                    latencies
                        .get(latencies.len() * p / 100)
                        .copied()
                        .unwrap_or(0)
                };
                println!(
                    "RESULT rts={round_trips} p50_ns={} p99_ns={} {}",
                    pct(50),
                    pct(99),
                    probe.fields_since(start),
                );
                io::stdout().flush().expect("stdout");
                // Exit with operations in flight and without dropping their memory.
                std::process::exit(0);
            }
            io::stdout().flush().expect("stdout");
            phase_end = now + args.window;
            start = Some(probe);
        }
    }
}

// --- wget clients -----------------------------------------------------------------------------

struct WgetArgs {
    addrs: Vec<SocketAddr>,
    inflight: usize,
    warmup: Duration,
    window: Duration,
    /// The nginx processes, whose CPU time is reported as the servers'.
    nginx: Vec<u32>,
}

fn wget_result(fetches: u64, errors: u64, start: &Probe, end: &Probe, extra: &str) {
    println!(
        "RESULT fetches={fetches} errors={errors} {}{extra}",
        end.fields_since(start)
    );
    io::stdout().flush().expect("stdout");
    std::process::exit(0);
}

fn head_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "no complete response head")
}

fn wget_coring(args: WgetArgs) {
    use std::cell::Cell;
    use std::rc::Rc;
    let runtime = coring::Builder::new()
        .entries(CORING_ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("{err}"));
    let done = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0u64));
    runtime.block_on(async {
        for i in 0..args.inflight {
            let addr = args.addrs[i % args.addrs.len()];
            let (done, errors) = (done.clone(), errors.clone());
            coring::spawn(async move {
                let mut buf = Vec::with_capacity(HTTP_BUF);
                loop {
                    let (result, b) = fetch_coring(addr, buf).await;
                    buf = b;
                    match result {
                        Ok(()) => done.set(done.get() + 1),
                        Err(_) => errors.set(errors.get() + 1),
                    }
                }
            });
        }
        coring::time::sleep(args.warmup).await;
        let (d0, e0, s0) = (done.get(), errors.get(), runtime.metrics());
        let start = Probe::take(&args.nginx, false);
        coring::time::sleep(args.window).await;
        let end = Probe::take(&args.nginx, false);
        let (d1, e1, s1) = (done.get(), errors.get(), runtime.metrics());
        wget_result(
            d1 - d0,
            e1 - e0,
            &start,
            &end,
            &format!(" enters={}", s1.enters - s0.enters),
        );
    });
}

/// One fetch: connect, send the request, read up to the end of the response head, close.
async fn fetch_coring(addr: SocketAddr, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    let stream = match coring::net::TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return (Err(err), buf),
    };
    if let (Err(err), _) = stream.write_all(GET).await {
        return (Err(err), buf);
    }
    let mut head = Vec::new();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        match n {
            Ok(0) => return (Err(head_error()), buf),
            Ok(n) if head.is_empty() && head_end(&buf[..n]).is_some() => return (Ok(()), buf),
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if head_end(&head).is_some() {
                    return (Ok(()), buf);
                }
                if head.len() > HEAD_MAX {
                    return (Err(head_error()), buf);
                }
            }
            Err(err) => return (Err(err), buf),
        }
    }
}

fn wget_tokio(args: WgetArgs) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;
    let runtime = tokio_current_thread();
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        for i in 0..args.inflight {
            let addr = args.addrs[i % args.addrs.len()];
            let (done, errors) = (done.clone(), errors.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; HTTP_BUF];
                loop {
                    match fetch_tokio(addr, &mut buf).await {
                        Ok(()) => done.fetch_add(1, Relaxed),
                        Err(_) => errors.fetch_add(1, Relaxed),
                    };
                }
            });
        }
        tokio::time::sleep(args.warmup).await;
        let (d0, e0) = (done.load(Relaxed), errors.load(Relaxed));
        let start = Probe::take(&args.nginx, false);
        tokio::time::sleep(args.window).await;
        let end = Probe::take(&args.nginx, false);
        let (d1, e1) = (done.load(Relaxed), errors.load(Relaxed));
        wget_result(d1 - d0, e1 - e0, &start, &end, "");
    });
}

async fn fetch_tokio(addr: SocketAddr, buf: &mut [u8]) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(GET).await?;
    let mut head = Vec::new();
    loop {
        let n = stream.read(buf).await?;
        if n == 0 {
            return Err(head_error());
        }
        if head.is_empty() && head_end(&buf[..n]).is_some() {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head_end(&head).is_some() {
            return Ok(());
        }
        if head.len() > HEAD_MAX {
            return Err(head_error());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes, CPUs and CPU time.

/// A server child: its port, and a pipe to ask it for counters.
struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl ServerProc {
    fn start(kind: &str, pin: Pin) -> ServerProc {
        let mut child = spawn_self(&["server".to_owned(), kind.to_owned()], pin);
        let stdin = child.stdin.take().expect("server stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("server stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("server READY line");
        let port = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("port="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("server {kind} did not start: {line:?}"));
        ServerProc {
            child,
            stdin,
            stdout,
            port,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's `io_uring_enter` count so far, if it has one.
    fn mark(&mut self) -> Option<u64> {
        writeln!(self.stdin, "mark").expect("write to server");
        self.stdin.flush().expect("flush to server");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("server STATS line");
        assert!(line.starts_with("STATS"), "server answered {line:?}");
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix("enters="))
            .and_then(|n| n.parse().ok())
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a child process may run.
#[derive(Clone, Copy)]
enum Pin {
    Cpu(usize),
    Any,
}

impl Pin {
    /// Spawns `cmd` with this affinity: the parent takes it for the moment of the fork, so the
    /// child inherits it from its first instruction (threads included).
    fn spawn(self, cmd: &mut Command) -> io::Result<Child> {
        let saved = affinity();
        let _ = match self {
            Pin::Cpu(cpu) => set_affinity(&cpu_set(&[cpu])),
            Pin::Any => set_affinity(&cpu_set(&cpus_in(&ORIGINAL.with(|o| *o)))),
        };
        let child = cmd.spawn();
        let _ = set_affinity(&saved);
        child
    }
}

thread_local! {
    /// The affinity this process started with (what `Pin::Any` restores).
    static ORIGINAL: libc::cpu_set_t = affinity();
}

fn spawn_self(args: &[String], pin: Pin) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    pin.spawn(&mut cmd).expect("re-execute the bench binary")
}

/// The CPUs this process may use, and which of them servers and load generators get.
struct Cores {
    all: Vec<usize>,
    server: usize,
    load: usize,
}

impl Cores {
    fn detect() -> Cores {
        let all = cpus_in(&ORIGINAL.with(|o| *o));
        let server = all.first().copied().unwrap_or(0);
        let load = all.get(1).copied().unwrap_or(server);
        Cores { all, server, load }
    }
}

fn affinity() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity: {}", io::Error::last_os_error());
    set
}

fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET only writes bit `cpu` of `set`, and checks it against the set's size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

fn cpus_in(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET only reads bit `cpu` of `set`, and checks it against the set's size.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, set) })
        .collect()
}

/// What a measuring process samples at both ends of its window: the time, the servers' and its
/// own CPU time and run-queue delay, and the machine's CPU time per CPU.
struct Probe {
    at: Instant,
    servers: Duration,
    own: Duration,
    /// Time the servers' and this process's threads waited for a CPU.
    delay: Duration,
    /// Time the `ksoftirqd` threads ran.
    softirq: Duration,
    sys: SysTimes,
}

impl Probe {
    /// `server_delay`: count the servers' run-queue delay too (not when several servers share a
    /// CPU on purpose, as the nginx processes do).
    fn take(server_pids: &[u32], server_delay: bool) -> Probe {
        let delay = server_pids
            .iter()
            .filter(|_| server_delay)
            .map(|pid| run_delay(&pid.to_string()))
            .sum::<Duration>()
            + run_delay("self");
        // The network stack's own softirq threads run because of the benchmark; time they held
        // a CPU is not another process's doing.
        let softirq = ksoftirqd_pids()
            .iter()
            .map(|pid| run_time(pid))
            .sum::<Duration>();
        Probe {
            at: Instant::now(),
            servers: server_pids.iter().map(|&pid| proc_cpu(pid)).sum(),
            own: process_cpu_time(),
            delay,
            softirq,
            sys: SysTimes::now(),
        }
    }

    /// The window from `start` to this probe as `name=value` fields for a `RESULT` line (read
    /// back with [`Window::parse`]).
    fn fields_since(&self, start: &Probe) -> String {
        let mut out = format!(
            "window_ns={} server_cpu_ns={} client_cpu_ns={} delay_ns={}",
            self.at.duration_since(start.at).as_nanos(),
            self.servers.saturating_sub(start.servers).as_nanos(),
            self.own.saturating_sub(start.own).as_nanos(),
            (self.delay.saturating_sub(start.delay))
                .saturating_sub(self.softirq.saturating_sub(start.softirq))
                .as_nanos(),
        );
        for (cpu, (end, begin)) in self.sys.busy.iter().zip(&start.sys.busy).enumerate() {
            let _ = write!(out, " busy{cpu}_ns={}", end.saturating_sub(*begin));
        }
        out
    }
}

/// A measured window as the parent reads it, in seconds.
struct Window {
    secs: f64,
    server_cpu: f64,
    client_cpu: f64,
    /// Run-queue delay of the servers and the client, as a fraction of the window.
    others: f64,
    busy: Vec<f64>,
}

impl Window {
    fn parse(line: &str) -> Window {
        let s = |name: &str| field(line, name) / 1e9;
        let secs = s("window_ns");
        let busy = (0..)
            .map_while(|cpu| {
                let name = format!("busy{cpu}_ns");
                line.contains(&format!(" {name}=")).then(|| s(&name))
            })
            .collect();
        Window {
            secs,
            server_cpu: s("server_cpu_ns"),
            client_cpu: s("client_cpu_ns"),
            others: s("delay_ns") / secs,
            busy,
        }
    }

    /// Everything CPU `cpu` did during the window (user, system, irq, softirq).
    fn busy(&self, cpu: usize) -> f64 {
        self.busy.get(cpu).copied().unwrap_or(f64::NAN)
    }
}

/// The `ksoftirqd/N` kernel threads.
fn ksoftirqd_pids() -> &'static [String] {
    static PIDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PIDS.get_or_init(|| {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.starts_with("ksoftirqd/"))
            })
            .collect()
    })
}

/// Time thread `pid` spent on a CPU (the first field of `/proc/<pid>/schedstat`).
fn run_time(pid: &str) -> Duration {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Time the threads of process `pid` ("self" for this one) spent runnable, waiting for a CPU
/// (the second field of `/proc/<pid>/task/<tid>/schedstat`). Threads that already exited are
/// not counted.
fn run_delay(pid: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// CPU time per CPU from `/proc/stat`, in nanoseconds: user, nice, system, irq and softirq, so
/// also the softirq work that is nobody's utime or stime (loopback TCP's receive path runs as
/// softirq on the sending CPU, often inside the sender's system call, sometimes in `ksoftirqd`).
/// Tick-sampled: good to a few percent over a window of seconds.
struct SysTimes {
    busy: Vec<u64>,
}

impl SysTimes {
    fn now() -> SysTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let tick = tick_ns();
        let mut busy = Vec::new();
        for line in stat.lines() {
            // "cpuN ..." lines; the "cpu ..." line (all CPUs together) is left out.
            let Some(rest) = line
                .strip_prefix("cpu")
                .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let Some(Ok(cpu)) = fields.next().map(str::parse::<usize>) else {
                continue;
            };
            // user nice system idle iowait irq softirq steal ...
            let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
            if v.len() < 7 {
                continue;
            }
            if busy.len() <= cpu {
                busy.resize(cpu + 1, 0);
            }
            busy[cpu] = (v[0] + v[1] + v[2] + v[5] + v[6]) * tick;
        }
        SysTimes { busy }
    }

    fn busy_total(&self) -> u64 {
        self.busy.iter().sum()
    }
}

/// Nanoseconds per clock tick (`USER_HZ`), the unit of `/proc/stat` and `/proc/<pid>/stat`.
fn tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    1_000_000_000 / hz
}

/// `utime + stime` of process `pid` (all its threads), from `/proc/<pid>/stat`.
fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start with field 3, `state`;
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    let ticks: u64 = fields.iter().sum();
    Duration::from_nanos(ticks * tick_ns())
}

/// CPU time used by this process so far (user and system, every thread).
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

// ---------------------------------------------------------------------------------------------
// Formatting and versions.

/// A numeric `name=value` field of a child's result line.
fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn kib(size: usize) -> String {
    format!("{} KiB", size / 1024)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// tokio's version from the workspace's Cargo.lock.
fn tokio_version() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .unwrap_or_default();
    lock.split("[[package]]")
        .find(|p| p.contains("name = \"tokio\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "?".to_owned())
}
