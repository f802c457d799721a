//! The seed's wget at scale: [`INFLIGHT`] fetches in flight (connect, `GET / HTTP/1.1` with
//! `Connection: close`, read the response head, close), the *client* being the runtime under
//! test, against four local nginx servers (one per loopback address 127.0.0.1..=4, so the
//! 4-tuples of the many short connections spread over four ephemeral-port spaces).
//!
//! The parent starts the nginx farm (`NginxFarm` in `benches/harness/nginx.rs`, pinned to the second CPU) and a client child
//! per runtime (`--child wget RUNTIME ADDRS INFLIGHT WARMUP_MS WINDOW_MS NGINX_PIDS`, pinned to
//! the first CPU). The client runs `INFLIGHT` tasks, each fetching in a loop with a per-fetch
//! [`FETCH_TIMEOUT`]; a measuring thread ([`measure`]) samples the counters and CPU times after the
//! warm-up and after the window, prints one `RESULT` line and ends the process.

mod clients;
mod raw;

pub use crate::conn::Head;
use crate::sys::Probe;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Fetches in flight (the figure).
pub const INFLIGHT: usize = 200;
/// Longest a fetch may take before it counts as an error and its connection is dropped.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Read buffer of a client.
pub const BUF: usize = 4096;
pub const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

/// Completed fetches, failed ones (errors and timeouts), and timeouts alone.
pub static DONE: AtomicU64 = AtomicU64::new(0);
pub static ERRORS: AtomicU64 = AtomicU64::new(0);
pub static TIMEOUTS: AtomicU64 = AtomicU64::new(0);

pub struct WgetArgs {
    pub addrs: Vec<SocketAddr>,
    pub inflight: usize,
    pub warmup: Duration,
    pub window: Duration,
    /// The nginx processes, whose CPU time is reported as the servers'.
    pub nginx: Vec<u32>,
}

impl WgetArgs {
    /// The address of fetch loop `i`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i % self.addrs.len()]
    }
}

/// The child: `args` are `RUNTIME ADDRS INFLIGHT WARMUP_MS WINDOW_MS NGINX_PIDS`.
pub fn child(args: &[String]) {
    let num = |i: usize| -> u64 { args[i].parse().expect("wget: number") };
    let run = WgetArgs {
        addrs: args[1]
            .split(',')
            .map(|a| a.parse().expect("wget address"))
            .collect(),
        inflight: num(2) as usize,
        warmup: Duration::from_millis(num(3)),
        window: Duration::from_millis(num(4)),
        nginx: args[5]
            .split(',')
            .map(|p| p.parse().expect("nginx pid"))
            .collect(),
    };
    measure(run.warmup, run.window, run.nginx.clone());
    match args[0].as_str() {
        "raw" => raw::run(&run),
        "coring" => clients::coring(&run),
        "coring-pool" => clients::coring_pool(&run),
        "tokio" => clients::tokio(&run),
        "monoio" => clients::monoio(&run),
        "compio" => clients::compio(&run),
        "glommio" => clients::glommio(&run),
        "tokio-uring" => clients::tokio_uring(&run),
        other => panic!("unknown wget client {other}"),
    }
    // A client returns only if its runtime failed; the measuring thread ends the process.
    std::thread::sleep(Duration::from_secs(3600));
}

/// Starts the measuring thread: after `warmup` it samples the counters and the CPU times, after
/// `window` again, prints `RESULT fetches=… errors=… timeouts=… <window fields>` and exits the
/// process (so every client is bounded by warm-up + window, whatever its runtime does).
fn measure(warmup: Duration, window: Duration, nginx: Vec<u32>) {
    std::thread::spawn(move || {
        std::thread::sleep(warmup);
        let counts = || {
            (
                DONE.load(Relaxed),
                ERRORS.load(Relaxed),
                TIMEOUTS.load(Relaxed),
            )
        };
        let (d0, e0, t0) = counts();
        let start = Probe::take_many(&nginx);
        std::thread::sleep(window);
        let end = Probe::take_many(&nginx);
        let (d1, e1, t1) = counts();
        println!(
            "RESULT fetches={} errors={} timeouts={} {}",
            d1 - d0,
            e1 - e0,
            t1 - t0,
            end.fields_since(&start)
        );
        let _ = io::stdout().flush();
        std::process::exit(0);
    });
}

/// Counts the end of one fetch.
pub fn count(result: io::Result<()>) {
    match result {
        Ok(()) => DONE.fetch_add(1, Relaxed),
        Err(err) => {
            if err.kind() == io::ErrorKind::TimedOut {
                TIMEOUTS.fetch_add(1, Relaxed);
            }
            ERRORS.fetch_add(1, Relaxed)
        }
    };
}

pub fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "fetch timed out")
}
