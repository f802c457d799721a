//! What `echo_server` and `http_server` share: one listener per worker, an accept loop that
//! spawns a task per connection, and the "listening on" line the tests wait for.
//!
//! One worker runs on the main thread (`coring::block_on`). With `--workers N > 1`, N threads
//! each run their own runtime (`Builder::build_multi`, pinned to cores) and their own listener
//! on the same address, bound with `SO_REUSEPORT`, so the kernel spreads connections among them
//! and a connection lives and dies on one core: nothing is shared, nothing is locked.
//!
//! At start-up a bind that finds the address in use is retried for up to 2 s: a server killed
//! with SIGKILL keeps its listening socket for a few milliseconds after its death (the kernel
//! frees it when it tears the dead process's io_uring instance down), and a supervisor that
//! restarts it at once must not see `Address already in use`. Another server holding the
//! address for good still gets that error, 2 s later.
//!
//! On `SIGINT` or `SIGTERM` every worker stops accepting and waits up to `--grace-ms` (10 s)
//! for its connections to finish what they are doing, then the process exits 0 (see
//! `shutdown.rs`).
//!
//! `--completion-batch N,MICROS` builds every runtime with `Builder::completion_batch(N, MICROS
//! µs)`: fewer `io_uring_enter` calls on a busy server, at most MICROS µs added latency.

use coring::net::{ListenOptions, TcpListener, TcpStream};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a bind is retried at start-up while the address is in use.
const BIND_RETRY_FOR: Duration = Duration::from_secs(2);
/// The pause between two tries.
const BIND_RETRY_EVERY: Duration = Duration::from_millis(10);

/// The runtime settings the servers take from the command line: `--workers N` and
/// `--completion-batch N,MICROS`.
pub struct RuntimeOptions {
    pub workers: usize,
    batch: Option<CompletionBatch>,
}

impl RuntimeOptions {
    /// Takes `--workers`, `--completion-batch` and `--grace-ms` out of `args`.
    pub fn from_args(args: &mut super::args::Args) -> RuntimeOptions {
        // `--grace-ms` too: how long a stopping server waits for its connections.
        let grace = args.value("--grace-ms", super::shutdown::GRACE_MS);
        super::shutdown::set_grace(std::time::Duration::from_millis(grace));
        RuntimeOptions {
            workers: args.value("--workers", 1),
            batch: args.value("--completion-batch", MaybeBatch(None)).0,
        }
    }

    fn builder(&self) -> coring::Builder {
        let builder = coring::Builder::new();
        match self.batch {
            Some(CompletionBatch { wait_for, micros }) => {
                builder.completion_batch(wait_for, std::time::Duration::from_micros(micros))
            }
            None => builder,
        }
    }

    /// What the "listening on" line says about these settings.
    fn describe(&self, mode: &str) -> String {
        let mut text = format!("{} worker(s), {mode}", self.workers);
        if let Some(batch) = self.batch {
            text += &format!(
                ", completion batch {} within {} µs",
                batch.wait_for, batch.micros
            );
        }
        text
    }
}

/// `N,MICROS` of `--completion-batch`.
#[derive(Debug, Clone, Copy)]
struct CompletionBatch {
    wait_for: u32,
    micros: u64,
}

/// An optional [`CompletionBatch`], for `Args::value` (absent: none).
struct MaybeBatch(Option<CompletionBatch>);

impl FromStr for MaybeBatch {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.split_once(',').and_then(|(n, micros)| {
            Some(CompletionBatch {
                wait_for: n.trim().parse().ok()?,
                micros: micros.trim().parse().ok()?,
            })
        });
        match parsed {
            Some(batch) => Ok(MaybeBatch(Some(batch))),
            None => Err(
                "expected N,MICROS (completions to wait for, microseconds at most), \
                         e.g. 32,50"
                    .to_owned(),
            ),
        }
    }
}

/// A worker's listener with its handles for the stop signals, both made before the "listening
/// on" line: a signal sent the moment the line appears reaches every worker (a handle made
/// later would not see it, and that worker would run on for good).
pub struct Bound {
    listener: TcpListener,
    stop: super::shutdown::Stop,
}

impl Bound {
    /// Binds `addr` (see [`bind`]) and makes the worker's signal handles.
    fn new(addr: SocketAddr, options: &ListenOptions) -> io::Result<Bound> {
        let listener = bind(addr, options)?;
        let stop = super::shutdown::Stop::new()?;
        Ok(Bound { listener, stop })
    }
}

/// Runs `worker_main(worker, bound)` on `options.workers` cores, each with its own listener
/// on `addr`, and prints `NAME listening on ADDR (...)` once all are bound and listening for
/// the stop signals.
pub fn run<F, Fut>(
    name: &str,
    addr: SocketAddr,
    options: &RuntimeOptions,
    mode: &str,
    worker_main: F,
) where
    F: Fn(usize, Bound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    // Before any thread starts, so they all inherit the blocked signals.
    if let Err(err) = super::shutdown::block_signals() {
        eprintln!("{name}: cannot take SIGINT/SIGTERM: {err}");
        std::process::exit(1);
    }
    let workers = options.workers;
    let announce = format!("{name} listening on {{addr}} ({})", options.describe(mode));
    let result = if workers <= 1 {
        options.builder().build().and_then(|runtime| {
            runtime.block_on(async move {
                let bound = Bound::new(addr, &ListenOptions::new())?;
                println!(
                    "{}",
                    announce.replace("{addr}", &bound.listener.local_addr()?.to_string())
                );
                worker_main(0, bound).await
            })
        })
    } else {
        run_multi(addr, options, announce, worker_main)
    };
    if let Err(err) = result {
        eprintln!("{name} on {addr}: {err}");
        std::process::exit(1);
    }
}

fn run_multi<F, Fut>(
    addr: SocketAddr,
    settings: &RuntimeOptions,
    announce: String,
    main: F,
) -> io::Result<()>
where
    F: Fn(usize, Bound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let options = ListenOptions::new().reuse_port(true);
    // Port 0 would give each worker a port of its own: settle on one first.
    let addr = match addr.port() {
        0 => TcpListener::bind_with(addr, &options)?.local_addr()?,
        _ => addr,
    };
    let bound = Arc::new(AtomicUsize::new(0));
    let workers = settings.workers;
    let runtime = settings
        .builder()
        .workers(workers)
        .pin_cores(true)
        .build_multi()?;
    let announce = announce.replace("{addr}", &addr.to_string());
    let outcomes = runtime.run_on_all(move |worker| {
        // Bound here, on the worker's own thread and ring.
        let started = Bound::new(addr, &options).map(|listener| {
            if bound.fetch_add(1, Ordering::SeqCst) + 1 == workers {
                println!("{announce}");
            }
            main(worker, listener)
        });
        async move { started?.await }
    });
    outcomes.into_iter().collect()
}

/// Binds `addr`, retrying for [`BIND_RETRY_FOR`] while it is in use (see the module docs). It
/// blocks the thread between tries, which is fine before the server serves anything.
fn bind(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
    let give_up = Instant::now() + BIND_RETRY_FOR;
    loop {
        match TcpListener::bind_with(addr, options) {
            Err(err) if err.kind() == io::ErrorKind::AddrInUse && Instant::now() < give_up => {
                std::thread::sleep(BIND_RETRY_EVERY);
            }
            bound => return bound,
        }
    }
}

/// Accepts connections until `SIGINT` or `SIGTERM`, running `handle` on each in a task of its
/// own; then closes the listener and waits (up to the grace period) for those tasks to end. A
/// connection's error is printed unless it is the peer going away.
pub async fn accept_each<H, Fut>(bound: Bound, mut handle: H) -> io::Result<()>
where
    H: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    use super::shutdown;
    let Bound { listener, mut stop } = bound;
    let mut incoming = listener.incoming();
    while let Some(Some(stream)) = shutdown::accept_or_stop(&mut stop, incoming.next()).await {
        match stream {
            Ok(stream) => drop(coring::spawn(report(handle(stream)))),
            // Out of fds and the like: `incoming` backs off before trying again.
            Err(err) => eprintln!("accept: {err}"),
        }
    }
    // Closing the listener refuses new connections from here on.
    drop(incoming);
    drop(listener);
    shutdown::drain(shutdown::grace()).await;
    Ok(())
}

async fn report(connection: impl Future<Output = io::Result<()>>) {
    let _counted = super::shutdown::Connection::new();
    use io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    match connection.await {
        Ok(()) => {}
        Err(err) if matches!(err.kind(), ConnectionReset | BrokenPipe | UnexpectedEof) => {}
        Err(err) => eprintln!("connection: {err}"),
    }
}
