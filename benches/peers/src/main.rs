//! The peer suite (issue 6): the same servers written for coring, tokio (current-thread),
//! monoio, compio, glommio, tokio-uring and a hand-written io_uring loop with no runtime (the
//! ceiling), driven by one load generator, in one run, with ratios.
//!
//! ```text
//! cargo build --release                      # in benches/peers (its own workspace)
//! target/release/peers                       # full run: 1 s windows, 5 runs each (about 10 min)
//! target/release/peers --quick               # 1 s windows, one run of each (about 4 min)
//! target/release/peers --smoke               # tiny sizes, every case once (about 40 s)
//! target/release/peers echo                  # only the echo cases (or "http", "wget",
//!                                            # "sleeps", "spawn+join", or a case name)
//! target/release/peers --servers raw,coring,tokio
//! target/release/peers --reps 3 --added-reps 3 wget  # wget, sleeps, spawn+join: 2 runs unless asked
//! target/release/peers --child poll-first   # what IORING_RECVSEND_POLL_FIRST costs and saves
//! target/release/peers --peer-flags default  # the peers at their builders' ring defaults
//! ```
//!
//! By default (`--peer-flags best`) monoio and compio run with `SINGLE_ISSUER|DEFER_TASKRUN`
//! and tokio-uring with `SINGLE_ISSUER|COOP_TASKRUN`, the class of flags coring and the raw loop
//! use ([`flags`]). Each table has one coring row, coring's default configuration (`read` /
//! `write_all`, no batching); the opt-in variants (a `BufRing` with `recv_stream`, completion
//! batching) are separate rows labelled as variants, and every "vs coring" ratio is against the
//! default row.
//!
//! Every server and the load generator is this binary re-executed (`--child server KIND PROTO`,
//! `--child load ...`), so each has its own process, CPU accounting and core: servers are pinned
//! (`sched_setaffinity`) to the first CPU this process may use, the load generator and `wrk` to
//! the second. Workloads:
//!
//! * echo ping-pong, 1 KiB and 16 KiB messages, 50 and 500 connections, one message in flight
//!   per connection; the load generator is a bare io_uring loop (`load.rs`), the same for all.
//! * HTTP/1.1 keep-alive hello, `wrk -t1 -c50` (skipped when `wrk` is not installed;
//!   `PEERS_WRK_CONNS=500` for another count). Two more rows run only here: the same hyper 1.x
//!   app on coring (`compat::hyper`) and on tokio current-thread (hyper-util), issue 20.
//! * wget at scale (`wget/`): the runtime is the *client*, 200 fetches in flight (connect,
//!   `GET / HTTP/1.1` + `Connection: close`, head, close) against four nginx on the second CPU,
//!   the client on the first; fetches/s and client CPU per fetch (skipped without `nginx`).
//! * 1M concurrent sleeps of 1–1000 ms (wall time, peak RSS) and spawn+join of 1M tasks
//!   (`tasks.rs`), each run a fresh child process on the first CPU.
//!
//! tokio runs twice: current-thread, and multi-thread with `worker_threads(1)` (the issue asks
//! for multi-thread; with two workers it would take the load generator's CPU).
//!
//! Server CPU per request is the server process's `utime + stime` (`/proc/<pid>/stat`) over the
//! measured window divided by the requests in it. System calls and `io_uring_enter` calls per
//! request come from one extra run of each case and server with `perf stat` counting the
//! `raw_syscalls:sys_enter` / `syscalls:sys_enter_io_uring_enter` tracepoints of the server
//! (kept out of the throughput figures). Each run also logs coring's and the raw loop's own
//! `io_uring_enter` counter, TCP segments per request and a memory-latency probe of the server
//! CPU (this VM's host slows it down for stretches of seconds).
//!
//! The machine may be shared: before each run the suite waits (a bounded time) for it to be
//! idle, a run during which other processes used more than 5% of a CPU is measured again (while
//! within the time budget) and marked `*`, and the table shows the median of the undisturbed runs.

mod added;
#[path = "../../harness/conn.rs"]
mod conn;
#[path = "../../harness/cpu.rs"]
mod cpu;
mod flags;
#[path = "../../harness/load.rs"]
mod load;
#[path = "../../harness/nginx.rs"]
mod nginx;
mod poll_first;
mod report;
#[path = "../../harness/serve.rs"]
mod serve;
mod servers;
mod sys;
mod tasks;
mod wget;
#[path = "../../harness/wrk.rs"]
mod wrk;

use report::{kernel_release, opt, Versions};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sys::{field, Cores, Pin, Probe, ServerProc, Window};
use wrk::wrk_run;

/// Sizes and durations of one run of the suite.
struct Mode {
    name: &'static str,
    warmup: Duration,
    window: Duration,
    /// Runs of each measurement, interleaved across servers; the table shows the median.
    reps: usize,
    /// Extra attempts of a run during which other processes used more than [`OTHERS_MAX`] of a
    /// CPU (only while the suite is within its time budget).
    retries: usize,
    /// Longest wait for a quiet machine before each measurement.
    quiet_wait: Duration,
    /// Longest total time spent waiting for a quiet machine.
    quiet_total: Duration,
    /// After this much time, no more retries and no waiting for quiet.
    budget: Duration,
    /// After this much time, no further repetition is started.
    hard_limit: Duration,
    /// Runs of each of the added workloads (wget, sleeps, spawn+join), at most `reps`.
    added_reps: usize,
    /// Tasks in the sleeps and spawn+join cases.
    tasks: usize,
    /// The wget measuring window (the warm-up is `warmup`).
    wget_window: Duration,
    /// Whether to make the extra pass counting system calls.
    syscalls: bool,
}

const FULL: Mode = Mode {
    name: "full",
    warmup: Duration::from_millis(400),
    window: Duration::from_secs(1),
    reps: 5,
    retries: 2,
    quiet_wait: Duration::from_secs(10),
    quiet_total: Duration::from_secs(45),
    budget: Duration::from_secs(360),
    hard_limit: Duration::from_secs(420),
    added_reps: 2,
    tasks: 1_000_000,
    wget_window: Duration::from_secs(1),
    syscalls: true,
};

const QUICK: Mode = Mode {
    name: "quick",
    warmup: Duration::from_millis(300),
    window: Duration::from_secs(1),
    reps: 1,
    retries: 0,
    quiet_wait: Duration::from_secs(2),
    quiet_total: Duration::from_secs(20),
    budget: Duration::from_secs(180),
    hard_limit: Duration::from_secs(180),
    added_reps: 1,
    tasks: 1_000_000,
    wget_window: Duration::from_secs(1),
    syscalls: true,
};

/// Seconds, not measurements: every case and server once with tiny sizes, so the suite cannot
/// rot (`ci/bench-smoke` with `CORING_PEERS=1`). wrk's shortest run is 1 s, so http takes longest.
const SMOKE: Mode = Mode {
    name: "smoke",
    warmup: Duration::from_millis(100),
    window: Duration::from_millis(200),
    reps: 1,
    retries: 0,
    quiet_wait: Duration::ZERO,
    quiet_total: Duration::ZERO,
    budget: Duration::ZERO,
    hard_limit: Duration::from_secs(120),
    added_reps: 1,
    tasks: 10_000,
    wget_window: Duration::from_millis(300),
    syscalls: false,
};

/// Largest share of a CPU other processes may use during a window before it is measured again.
const OTHERS_MAX: f64 = 0.05;

const ECHO_SIZES: [usize; 2] = [1024, 16 * 1024];
const ECHO_CONNS: [usize; 2] = [50, 500];
/// wrk's connections: 50, or `PEERS_WRK_CONNS=N` (the hyper rows of issue 20 also run 500).
fn wrk_conns() -> usize {
    std::env::var("PEERS_WRK_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// The servers, in table order: (id, crate whose version is shown, label). coring's opt-in
/// variants come last and say so: the peers are judged against the default `coring` row.
const SERVERS: [(&str, &str, &str); 15] = [
    ("raw", "io-uring", "raw io_uring loop"),
    ("coring", "coring", "coring (default: read/write_all)"),
    ("tokio", "tokio", "tokio current-thread"),
    ("tokio-mt", "tokio", "tokio multi-thread, 1 worker"),
    ("monoio", "monoio", "monoio"),
    ("compio", "compio", "compio"),
    ("glommio", "glommio", "glommio"),
    ("tokio-uring", "tokio-uring", "tokio-uring"),
    (
        "coring-ring",
        "coring",
        "coring variant (opt-in): BufRing recv_stream",
    ),
    (
        "coring-batch",
        "coring",
        "coring variant (opt-in): BufRing + completion_batch",
    ),
    (
        "coring-epoll",
        "coring",
        "coring on its epoll backend (the fallback where io_uring is refused)",
    ),
    ("coring-hyper", "hyper", "hyper on coring (compat::hyper)"),
    ("tokio-hyper", "hyper", "hyper on tokio current-thread"),
    (
        "coring-pool",
        "coring",
        "coring BufReader (no set-up: runtime read pool)",
    ),
    (
        "raw-direct",
        "io-uring",
        "raw io_uring loop variant: direct descriptors",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    let mut mode = if args.iter().any(|a| a == "--smoke") {
        SMOKE
    } else if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    };
    let mut servers: Vec<usize> = (0..SERVERS.len()).collect();
    let mut filter: Vec<String> = Vec::new();
    let mut peer_flags = flags::PeerFlags::Best;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--quick" | "--full" | "--smoke" => {}
            "--reps" => {
                i += 1;
                mode.reps = args.get(i).and_then(|r| r.parse().ok()).expect("--reps N");
            }
            "--added-reps" => {
                i += 1;
                mode.added_reps = args
                    .get(i)
                    .and_then(|r| r.parse().ok())
                    .expect("--added-reps N");
            }
            "--window" => {
                i += 1;
                let secs: f64 = args
                    .get(i)
                    .and_then(|r| r.parse().ok())
                    .expect("--window S");
                mode.window = Duration::from_secs_f64(secs);
            }
            "--peer-flags" => {
                i += 1;
                peer_flags = args
                    .get(i)
                    .and_then(|f| flags::PeerFlags::parse(f))
                    .expect("--peer-flags default|best");
            }
            "--servers" => {
                i += 1;
                let list = args.get(i).expect("--servers a,b,c");
                servers = list
                    .split(',')
                    .map(|s| {
                        SERVERS
                            .iter()
                            .position(|(id, _, _)| id == &s)
                            .unwrap_or_else(|| panic!("unknown server {s}"))
                    })
                    .collect();
            }
            "-h" | "--help" => {
                println!(
                    "usage: peers [--quick|--smoke] [--reps N] [--added-reps N] [--window SECS] [--peer-flags \
                     best|default] [--servers {}] [echo] [http] [wget] [sleeps] [spawn+join]",
                    SERVERS.map(|s| s.0).join(",")
                );
                return;
            }
            other if other.starts_with('-') => panic!("unknown option {other}"),
            other => filter.push(other.to_owned()),
        }
        i += 1;
    }
    // The servers, clients and task runs are this binary re-executed: they read it from here.
    std::env::set_var(flags::ENV, peer_flags.to_string());
    // A filter names a case exactly ("echo 1 KiB x50"), or is a word of case names ("echo").
    let wanted = |case: &str| {
        filter.is_empty()
            || filter
                .iter()
                .any(|f| case == f || case.split(' ').any(|word| word == f))
    };
    let cores = Cores::detect();
    let started = Instant::now();
    let versions = Versions::read();
    println!(
        "coring peer suite, {} mode ({} s windows, {} run(s) each): kernel {}, {}",
        mode.name,
        mode.window.as_secs_f64(),
        mode.reps,
        kernel_release(),
        cores.describe(),
    );
    println!("versions: {}", versions.line());
    println!("{}", report::flags_line(peer_flags));
    let mut cases: Vec<Case> = Vec::new();
    for size in ECHO_SIZES {
        for conns in ECHO_CONNS {
            let case = Case::Echo { size, conns };
            if wanted(&case.name()) {
                cases.push(case);
            }
        }
    }
    let mut notes = Vec::new();
    if wanted(&Case::Http.name()) {
        let have_wrk = Command::new("wrk")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if have_wrk {
            cases.push(Case::Http);
        } else {
            notes.push("http skipped: `wrk` is not installed (`apt-get install -y wrk`)".into());
            println!("http: skipped, wrk not found");
        }
    }
    for case in [
        Case::Wget,
        Case::Sleeps { n: mode.tasks },
        Case::Spawn { n: mode.tasks },
    ] {
        if !wanted(&case.name()) {
            continue;
        }
        if case == Case::Wget && nginx::find_nginx().is_none() {
            notes.push("wget skipped: nginx is not installed (`apt-get install -y nginx`)".into());
            println!("wget: skipped, nginx not found");
            continue;
        }
        cases.push(case);
    }
    let mut suite = Suite {
        rows: cases
            .iter()
            .flat_map(|&case| {
                servers
                    .iter()
                    .filter(move |&&server| case.supports(SERVERS[server].0))
                    .map(move |&server| Row {
                        case,
                        server,
                        runs: Vec::new(),
                        syscalls: None,
                    })
            })
            .collect(),
        mode,
        peer_flags,
        cores,
        started,
        waited: Duration::ZERO,
        notes,
        failed_own: false,
    };
    suite.run_all();
    println!("\n{}", suite.table(&versions, started.elapsed()));
    // A failed run of coring or of the raw loop fails the suite; a peer's failure is a note
    // (except in smoke mode, where any failure fails it).
    if suite.failed_own {
        eprintln!("peers: a coring or raw-loop run (smoke mode: any run) failed");
        std::process::exit(1);
    }
}

impl Run {
    fn quiet(&self) -> bool {
        self.others <= OTHERS_MAX
    }
}

/// A workload.
#[derive(Clone, Copy, PartialEq)]
enum Case {
    Echo {
        size: usize,
        conns: usize,
    },
    Http,
    /// The runtime is the client: fetches from the nginx farm.
    Wget,
    /// N tasks sleeping 1–1000 ms.
    Sleeps {
        n: usize,
    },
    /// Spawn N tasks, join them in order.
    Spawn {
        n: usize,
    },
}

impl Case {
    fn name(&self) -> String {
        match self {
            Case::Echo { size, conns } => format!("echo {} KiB x{conns}", size / 1024),
            Case::Http => format!("http wrk -t1 -c{}", wrk_conns()),
            Case::Wget => format!("wget {} in flight", wget::INFLIGHT),
            Case::Sleeps { n } => format!("sleeps {}", count_name(*n)),
            Case::Spawn { n } => format!("spawn+join {}", count_name(*n)),
        }
    }

    /// The network-server cases (the first table, the system-call pass).
    fn is_server(&self) -> bool {
        matches!(self, Case::Echo { .. } | Case::Http)
    }

    /// Whether `server` (an id of [`SERVERS`]) takes part in this case: the servers in every
    /// network-server case; wget has no BufRing variants and no multi-thread tokio client (not
    /// asked for); the task cases have no raw loop (no tasks) and one coring (no I/O).
    fn supports(&self, server: &str) -> bool {
        match self {
            Case::Http => true,
            _ if server.ends_with("-hyper") => false,
            Case::Echo { .. } => true,
            Case::Wget => !matches!(
                server,
                "coring-ring" | "coring-batch" | "coring-epoll" | "tokio-mt" | "raw-direct"
            ),
            Case::Sleeps { .. } | Case::Spawn { .. } => !matches!(
                server,
                "raw"
                    | "raw-direct"
                    | "coring-ring"
                    | "coring-batch"
                    | "coring-epoll"
                    | "coring-pool"
            ),
        }
    }
}

fn count_name(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// What one measured run gave, per request (echo round trip or HTTP request).
#[derive(Clone, Copy)]
struct Run {
    per_sec: f64,
    p99_us: f64,
    /// The server process's `utime + stime` per request.
    server_cpu_us: f64,
    /// Everything the server's CPU did (user, system, irq, softirq) per request.
    core_us: f64,
    /// The load generator's (or wrk's) CPU time per request.
    load_us: f64,
    enters: Option<f64>,
    /// CPU time other processes used during the window, as a fraction of one CPU.
    others: f64,
    /// The server CPU's speed just before the run ([`sys::cpu_speed`]).
    speed: f64,
    /// TCP segments (both directions) per request.
    segs: f64,
    /// System calls and `io_uring_enter` calls per request, from a run with `perf stat`
    /// attached (the syscall pass).
    syscalls: Option<(f64, f64)>,
    /// Added workloads: wall time (tasks), peak RSS (sleeps), failed and timed-out fetches
    /// (wget).
    wall_ms: f64,
    /// Sleeps: when the last sleep was created (ms after the first spawn).
    armed_ms: f64,
    cpu_ms: f64,
    hwm_mib: f64,
    bytes_per_task: f64,
    errors: f64,
    timeouts: f64,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            per_sec: f64::NAN,
            p99_us: f64::NAN,
            server_cpu_us: f64::NAN,
            core_us: f64::NAN,
            load_us: f64::NAN,
            enters: None,
            others: f64::NAN,
            speed: f64::NAN,
            segs: f64::NAN,
            syscalls: None,
            wall_ms: f64::NAN,
            armed_ms: f64::NAN,
            cpu_ms: f64::NAN,
            hwm_mib: f64::NAN,
            bytes_per_task: f64::NAN,
            errors: f64::NAN,
            timeouts: f64::NAN,
        }
    }
}

/// One row of the table: a case and a server, with every run's throughput.
struct Row {
    case: Case,
    server: usize,
    runs: Vec<Run>,
    /// (system calls, `io_uring_enter` calls) per request, from the syscall pass.
    syscalls: Option<(f64, f64)>,
}

impl Row {
    /// The run that stands for the row: the median by throughput of the undisturbed runs
    /// (other processes used at most [`OTHERS_MAX`] of a CPU), or of all runs when none was
    /// undisturbed (then `true`: flagged in the table).
    fn headline(&self) -> (Run, bool) {
        let quiet: Vec<Run> = self.runs.iter().copied().filter(|r| r.quiet()).collect();
        let (mut pool, disturbed) = if quiet.is_empty() {
            (self.runs.clone(), true)
        } else {
            (quiet, false)
        };
        if pool.is_empty() {
            return (Run::default(), true);
        }
        pool.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
        // The upper median of an even count: with two runs, the better one.
        (pool[pool.len() / 2], disturbed)
    }
}

struct Suite {
    mode: Mode,
    /// The ring flags the io_uring peers run with.
    peer_flags: flags::PeerFlags,
    cores: Cores,
    started: Instant,
    /// Time spent so far waiting for a quiet machine.
    waited: Duration,
    /// One per case and server, cases in order, servers in order within a case.
    rows: Vec<Row>,
    notes: Vec<String>,
    /// A run of coring or of the raw loop failed (in smoke mode: any run).
    failed_own: bool,
}

impl Suite {
    fn within_budget(&self) -> bool {
        self.started.elapsed() < self.mode.budget
    }

    /// Measures every case and server `reps` times: each repetition goes through all cases, and
    /// within a case through all servers in an order that rotates from one repetition to the
    /// next, so drift on the machine does not favour one server. Keeps the best run of each.
    /// Repetitions after the first are skipped once [`Mode::hard_limit`] has passed.
    fn run_all(&mut self) {
        let n_rows = self.rows.len();
        for rep in 0..self.mode.reps {
            if rep > 0 && self.started.elapsed() > self.mode.hard_limit {
                self.notes.push(format!(
                    "time limit: stopped after {rep} of {} runs of each",
                    self.mode.reps
                ));
                break;
            }
            let mut first = 0;
            while first < n_rows {
                let case = self.rows[first].case;
                let n = self.rows[first..]
                    .iter()
                    .take_while(|r| r.case == case)
                    .count();
                if !case.is_server() && rep >= self.mode.added_reps {
                    first += n;
                    continue;
                }
                for k in 0..n {
                    let index = first + (k + rep * (n / 2 + 1)) % n;
                    self.measure_row(index);
                }
                first += n;
            }
        }
        self.syscall_pass();
    }

    /// One more run of every case and server with `perf stat` counting the server's system
    /// calls (kept out of the throughput figures). Skipped with a note without perf.
    fn syscall_pass(&mut self) {
        if !self.mode.syscalls || !self.rows.iter().any(|r| r.case.is_server()) {
            return;
        }
        let probe = Command::new("perf")
            .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            self.notes.push(
                "syscalls/req: not measured (`perf stat -e raw_syscalls:sys_enter` does not \
                 work here)"
                    .into(),
            );
            return;
        }
        for index in 0..self.rows.len() {
            let (case, server) = (self.rows[index].case, self.rows[index].server);
            let run = match case {
                Case::Echo { size, conns } => self.echo_run(server, size, conns, true),
                Case::Http => self.http_run(server, true),
                _ => continue,
            };
            let syscalls = run.and_then(|r| r.syscalls);
            println!(
                "{} {}: syscalls/req {}, io_uring_enter/req {}  [{:.0} s]",
                case.name(),
                SERVERS[server].2,
                opt(syscalls.map(|s| s.0), 3),
                opt(syscalls.map(|s| s.1), 4),
                self.started.elapsed().as_secs_f64(),
            );
            self.rows[index].syscalls = syscalls;
        }
    }

    fn measure_row(&mut self, index: usize) {
        let (case, server) = (self.rows[index].case, self.rows[index].server);
        let label = format!("{} {}", case.name(), SERVERS[server].2);
        let mut kept: Option<Run> = None;
        for attempt in 0..=self.mode.retries {
            if self.within_budget() && self.waited < self.mode.quiet_total {
                let start = Instant::now();
                sys::wait_for_quiet(&label, self.mode.quiet_wait);
                self.waited += start.elapsed();
            }
            let speed = sys::cpu_speed(self.cores.server, Duration::from_millis(30));
            let run = match case {
                Case::Echo { size, conns } => self.echo_run(server, size, conns, false),
                Case::Http => self.http_run(server, false),
                Case::Wget => self.wget_run(server),
                Case::Sleeps { n } => self.task_run("sleeps", n, server),
                Case::Spawn { n } => self.task_run("spawn", n, server),
            }
            .map(|run| Run { speed, ..run });
            let Some(run) = run else {
                self.notes.push(format!("{label}: run failed"));
                // In smoke mode (CI) any failure fails the suite: a peer that no longer starts
                // is the suite rotting, not a measurement.
                self.failed_own |= self.mode.name == "smoke"
                    || matches!(
                        SERVERS[server].0,
                        "raw"
                            | "raw-direct"
                            | "coring"
                            | "coring-ring"
                            | "coring-batch"
                            | "coring-epoll"
                            | "coring-pool"
                    );
                break;
            };
            let disturbed = run.others > OTHERS_MAX;
            if kept.is_none_or(|k| run.others < k.others) {
                kept = Some(run);
            }
            if !disturbed || attempt == self.mode.retries || !self.within_budget() {
                break;
            }
            println!(
                "  {label}: other processes used {:.0}% of a CPU; measuring again",
                run.others * 100.0
            );
        }
        let Some(run) = kept else { return };
        if !case.is_server() {
            added::log(&label, &run, self.started.elapsed());
            self.rows[index].runs.push(run);
            return;
        }
        println!(
            "{label}: {:.0}/s, p99 {:.0} µs, server {:.2} µs/req (core {:.2}), load {:.2} \
             µs/req, enters/req {}, segs/req {:.2}, others {:.0}%, mem {:.1} ns/load  [{:.0} s]",
            run.per_sec,
            run.p99_us,
            run.server_cpu_us,
            run.core_us,
            run.load_us,
            opt(run.enters, 4),
            run.segs,
            run.others * 100.0,
            run.speed,
            self.started.elapsed().as_secs_f64(),
        );
        self.rows[index].runs.push(run);
    }

    /// Starts the server, drives it with the load generator, stops it.
    /// `count`: with a [`sys::SyscallCounter`] attached to the server for its whole life.
    fn echo_run(&self, server: usize, size: usize, conns: usize, count: bool) -> Option<Run> {
        let kind = SERVERS[server].0;
        let mut srv = ServerProc::start(kind, "echo", Pin::Cpu(self.cores.server))?;
        let counter = if count {
            sys::SyscallCounter::attach(srv.pid())
        } else {
            None
        };
        let args = load::LoadArgs {
            port: srv.port,
            conns,
            size,
            warmup: self.mode.warmup,
            window: self.mode.window,
            server_pid: srv.pid(),
        }
        .to_args();
        let mut load = sys::spawn_self(&args, Pin::Cpu(self.cores.load));
        let mut marks = Vec::new();
        let result = load::read_load_output(&mut load, || marks.push(srv.mark()));
        let status = load.wait();
        let counted = counter.and_then(sys::SyscallCounter::finish);
        srv.stop();
        let Some(result) = result else {
            eprintln!("load generator against {kind} printed no RESULT ({status:?})");
            return None;
        };
        let rts = field(&result, "rts");
        let window = Window::parse(&result);
        let enters = match marks.as_slice() {
            [Some(a), Some(b)] => Some((b - a) as f64 / rts),
            _ => None,
        };
        Some(Run {
            per_sec: rts / window.secs,
            p99_us: field(&result, "p99_ns") / 1e3,
            server_cpu_us: window.server_cpu * 1e6 / rts,
            core_us: window.busy(self.cores.server) * 1e6 / rts,
            load_us: window.client_cpu * 1e6 / rts,
            enters,
            others: window.others,
            speed: f64::NAN,
            segs: window.segs / rts,
            syscalls: counted.map(|c| {
                let n = field(&result, "rts_total");
                (c.all as f64 / n, c.io_uring_enter as f64 / n)
            }),
            ..Run::default()
        })
    }

    /// Starts the HTTP server, runs `wrk -t1 -c50` against it for the window, stops it.
    fn http_run(&self, server: usize, count: bool) -> Option<Run> {
        let kind = SERVERS[server].0;
        let mut srv = ServerProc::start(kind, "http", Pin::Cpu(self.cores.server))?;
        let counter = if count {
            sys::SyscallCounter::attach(srv.pid())
        } else {
            None
        };
        let port = srv.port;
        // Warm up: a short wrk run first (connections, page faults, the server's first tasks).
        let warmup = Duration::from_millis(self.mode.warmup.as_millis().max(1000) as u64);
        let warm_requests = wrk_run(
            port,
            wrk_conns(),
            warmup.as_secs().max(1),
            Pin::Cpu(self.cores.load),
        )
        .map_or(f64::NAN, |w| w.requests);
        let before = srv.mark();
        let start = Probe::take(srv.pid());
        let wrk = wrk_run(
            port,
            wrk_conns(),
            self.mode.window.as_secs().max(1),
            Pin::Cpu(self.cores.load),
        );
        let end = Probe::take(srv.pid());
        let after = srv.mark();
        let counted = counter.and_then(sys::SyscallCounter::finish);
        srv.stop();
        let wrk = wrk?;
        if !wrk.errors.is_empty() {
            eprintln!("http {kind}: {}", wrk.errors);
        }
        // This process's own CPU time is near zero; wrk's comes from wait4.
        let window = Window::parse(&end.fields_since(&start));
        let n = wrk.requests;
        Some(Run {
            per_sec: wrk.per_sec,
            p99_us: wrk.p99_us,
            server_cpu_us: window.server_cpu * 1e6 / n,
            core_us: window.busy(self.cores.server) * 1e6 / n,
            load_us: wrk.cpu.as_secs_f64() * 1e6 / n,
            enters: before.zip(after).map(|(a, b)| (b - a) as f64 / n),
            others: (window.others - wrk.cpu.as_secs_f64() / window.secs).max(0.0),
            speed: f64::NAN,
            segs: window.segs / n,
            syscalls: counted.map(|c| {
                let n = warm_requests + n;
                (c.all as f64 / n, c.io_uring_enter as f64 / n)
            }),
            ..Run::default()
        })
    }
}

fn child(args: &[String]) {
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("child: missing argument {i} in {args:?}"))
    };
    match arg(0) {
        "server" => servers::run(arg(1), servers::Proto::parse(arg(2))),
        "load" => load::load_echo(
            &load::LoadArgs::parse(&args[1..]),
            Probe::take,
            Probe::fields_since,
        ),
        "wget" => wget::child(&args[1..]),
        "tasks" => tasks::child(&args[1..]),
        "poll-first" => poll_first::child(&args[1..]),
        other => panic!("unknown child {other}"),
    }
}
