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
//! `NET_BENCH_QUIET_WAIT=SECS` bounds the wait for an idle machine (default 120 s per run; 0 on
//! a machine that is never idle, as `benches/report --quick net` does).
//!
//! With `NET_BENCH_RAW_BATCH=N,µs` set, cases a and b also run the raw loop with batched waits:
//! each `io_uring_enter` waits for up to N completions but at most µs microseconds
//! (`min_wait_usec`, Linux 6.12), the experiment behind the note on `io_uring_enter` counts.

use io_uring::{opcode, types, IoUring};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command};
use std::time::{Duration, Instant};

mod cases;
#[path = "../harness/conn.rs"]
mod conn;
#[path = "../harness/cpu.rs"]
mod cpu;
#[path = "../harness/load.rs"]
mod echo_load;
mod load;
mod measure;
#[path = "../harness/nginx.rs"]
mod nginx;
mod procs;
mod raw;
#[path = "../harness/serve.rs"]
mod serve;
mod servers;
mod tokio_srv;
mod wget;
#[path = "../harness/wrk.rs"]
mod wrk;

use cases::*;
use conn::*;
use cpu::*;
use echo_load::*;
use load::*;
use measure::*;
use nginx::*;
use procs::*;
use raw::*;
use serve::*;
use servers::*;
use tokio_srv::*;
use wget::*;
use wrk::*;

/// Submission queue entries for coring runtimes in this bench.
pub(crate) const CORING_ENTRIES: u32 = 1024;
/// Buffers in the coring echo server's buffer ring.
pub(crate) const RING_BUFFERS: u16 = 1024;
/// The wget clients' request.
pub(crate) const GET: &[u8] =
    b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: coring-bench\r\n\r\n";

/// Sizes and durations of one run of the suite.
pub(crate) struct Mode {
    pub(crate) name: &'static str,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    /// Runs of each measurement (interleaved across servers; the best throughput is kept).
    pub(crate) reps: usize,
    /// Extra attempts of a run during which other processes used more than [`OTHERS_MAX`] of a
    /// CPU (the machine is shared).
    pub(crate) retries: usize,
    pub(crate) echo_sizes: &'static [usize],
    pub(crate) echo_conns: &'static [usize],
    pub(crate) wrk_conns: usize,
    pub(crate) wrk_secs: u64,
    pub(crate) wget_inflight: usize,
    pub(crate) multi_conns: &'static [usize],
}

pub(crate) const FULL: Mode = Mode {
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

pub(crate) const QUICK: Mode = Mode {
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

pub(crate) const SMOKE: Mode = Mode {
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

pub(crate) fn main() {
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
        "coring net bench, {} mode: kernel {}, tokio {}, {}",
        mode.name,
        kernel_release(),
        tokio_version(),
        cores.describe(),
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
// Formatting and versions.

pub(crate) fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

pub(crate) fn kib(size: usize) -> String {
    format!("{} KiB", size / 1024)
}

pub(crate) fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// tokio's version from the workspace's Cargo.lock.
pub(crate) fn tokio_version() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .unwrap_or_default();
    lock.split("[[package]]")
        .find(|p| p.contains("name = \"tokio\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "?".to_owned())
}
