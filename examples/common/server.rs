//! What `echo_server` and `http_server` share: one listener per worker, an accept loop that
//! spawns a task per connection, and the "listening on" line the tests wait for.
//!
//! One worker runs on the main thread (`coring::block_on`). With `--workers N > 1`, N threads
//! each run their own runtime (`Builder::build_multi`, pinned to cores) and their own listener
//! on the same address, bound with `SO_REUSEPORT`, so the kernel spreads connections among them
//! and a connection lives and dies on one core: nothing is shared, nothing is locked.

use coring::net::{ListenOptions, TcpListener, TcpStream};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `worker_main(worker, listener)` on `workers` cores, each with its own listener on
/// `addr`, and prints `NAME listening on ADDR (...)` once all are bound.
pub fn run<F, Fut>(name: &str, addr: SocketAddr, workers: usize, mode: &str, worker_main: F)
where
    F: Fn(usize, TcpListener) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let announce = format!("{name} listening on {{addr}} ({workers} worker(s), {mode})");
    let result = if workers <= 1 {
        coring::block_on(async move {
            let listener = TcpListener::bind(addr)?;
            println!(
                "{}",
                announce.replace("{addr}", &listener.local_addr()?.to_string())
            );
            worker_main(0, listener).await
        })
    } else {
        run_multi(addr, workers, announce, worker_main)
    };
    if let Err(err) = result {
        eprintln!("{name} on {addr}: {err}");
        std::process::exit(1);
    }
}

fn run_multi<F, Fut>(addr: SocketAddr, workers: usize, announce: String, main: F) -> io::Result<()>
where
    F: Fn(usize, TcpListener) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let options = ListenOptions::new().reuse_port(true);
    // Port 0 would give each worker a port of its own: settle on one first.
    let addr = match addr.port() {
        0 => TcpListener::bind_with(addr, &options)?.local_addr()?,
        _ => addr,
    };
    let bound = Arc::new(AtomicUsize::new(0));
    let runtime = coring::Builder::new()
        .workers(workers)
        .pin_cores(true)
        .build_multi()?;
    let announce = announce.replace("{addr}", &addr.to_string());
    let outcomes = runtime.run_on_all(move |worker| {
        // Bound here, on the worker's own thread and ring.
        let started = TcpListener::bind_with(addr, &options).map(|listener| {
            if bound.fetch_add(1, Ordering::SeqCst) + 1 == workers {
                println!("{announce}");
            }
            main(worker, listener)
        });
        async move { started?.await }
    });
    outcomes.into_iter().collect()
}

/// Accepts connections forever, running `handle` on each in a task of its own. A connection's
/// error is printed unless it is the peer going away.
pub async fn accept_each<H, Fut>(listener: TcpListener, mut handle: H) -> io::Result<()>
where
    H: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        match stream {
            Ok(stream) => drop(coring::spawn(report(handle(stream)))),
            // Out of fds and the like: `incoming` backs off before trying again.
            Err(err) => eprintln!("accept: {err}"),
        }
    }
    Ok(())
}

async fn report(connection: impl Future<Output = io::Result<()>>) {
    use io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    match connection.await {
        Ok(()) => {}
        Err(err) if matches!(err.kind(), ConnectionReset | BrokenPipe | UnexpectedEof) => {}
        Err(err) => eprintln!("connection: {err}"),
    }
}
