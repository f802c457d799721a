//! What the runtime did: a small echo load over loopback, then its metrics.
//!
//! ```text
//! cargo run --release --example metrics -- [--connections 8] [--rounds 200]
//! ```
//!
//! One runtime serves `--connections` clients on 127.0.0.1, each doing `--rounds` ping-pongs of
//! a short message with a 1 ms sleep every 50 rounds; then `Runtime::metrics()` is printed,
//! one `name: value` line per field. A second part runs a ping-pong between the two workers of
//! a `MultiRuntime` and prints each worker's metrics, read from this (non-worker) thread:
//! their wake-ups cross from ring to ring with `MSG_RING` (through eventfds on epoll, which it
//! says once on stderr when io_uring is refused).

#[path = "common/args.rs"]
mod args;
#[path = "common/backend.rs"]
mod backend;

use coring::buf::IoBuf;
use coring::net::{TcpListener, TcpStream};
use coring::runtime::{workers, Metrics};
use coring::sync::mpsc;
use coring::{Builder, Runtime};
use std::io;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: metrics [--connections 8] [--rounds 200]";
const MESSAGE: &[u8] = b"ping from the metrics example\n";

fn main() -> ExitCode {
    let mut args = args::Args::from_env(USAGE);
    let connections: usize = args.value("--connections", 8);
    let rounds: usize = args.value("--rounds", 200);
    args.finish();
    backend::report_fallback();
    match run(connections.max(1), rounds.max(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("metrics: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(connections: usize, rounds: usize) -> io::Result<()> {
    let runtime = Runtime::new()?;
    runtime.block_on(echo_load(connections, rounds))?;
    print(
        &format!("one runtime, {connections} echo connections x {rounds} rounds"),
        &runtime.metrics(),
    );

    let multi = Builder::new().workers(2).build_multi()?;
    multi.block_on_with(move || cross_core_ping_pong(rounds));
    for (index, metrics) in multi.metrics().iter().enumerate() {
        print(
            &format!("worker {index} of 2, {rounds} cross-core ping-pongs"),
            metrics,
        );
    }
    Ok(())
}

/// Echo server and clients on this runtime, over 127.0.0.1.
async fn echo_load(connections: usize, rounds: usize) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = coring::spawn(async move {
        let mut echoes = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (stream, _) = listener.accept().await?;
            echoes.push(coring::spawn(echo(stream)));
        }
        // Each echo ends when its client hangs up: nothing is left running when this returns.
        for result in coring::task::join_all(echoes).await {
            result.map_err(|e| io::Error::other(e.to_string()))??;
        }
        io::Result::Ok(())
    });
    let clients: Vec<_> = (0..connections)
        .map(|_| coring::spawn(client(addr, rounds)))
        .collect();
    for result in coring::task::join_all(clients).await {
        result.map_err(|e| io::Error::other(e.to_string()))??;
    }
    server.await.map_err(|e| io::Error::other(e.to_string()))?
}

async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, b) = stream.read(buf).await;
        let n = n?;
        if n == 0 {
            return Ok(());
        }
        let (written, b) = stream.write_all(b.slice(..n)).await;
        written?;
        buf = b.into_inner();
    }
}

async fn client(addr: std::net::SocketAddr, rounds: usize) -> io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let mut buf = vec![0u8; MESSAGE.len()];
    for round in 0..rounds {
        let (written, _) = stream.write_all(MESSAGE).await;
        written?;
        let mut got = 0;
        while got < MESSAGE.len() {
            let (n, b) = stream.read(buf.slice(got..)).await;
            buf = b.into_inner();
            match n? {
                0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                n => got += n,
            }
        }
        if buf != MESSAGE {
            return Err(io::Error::other("the echo differs from the message"));
        }
        if round % 50 == 49 {
            coring::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(())
}

/// Worker 0 and worker 1 pass a counter back and forth over two channels.
async fn cross_core_ping_pong(rounds: usize) {
    let (ping_tx, mut ping_rx) = mpsc::unbounded_channel::<usize>();
    let (pong_tx, mut pong_rx) = mpsc::unbounded_channel::<usize>();
    let echo = workers()[1].spawn(async move {
        while let Some(n) = ping_rx.recv().await {
            if pong_tx.send(n + 1).is_err() {
                return;
            }
        }
    });
    for i in 0..rounds {
        if ping_tx.send(i).is_err() || pong_rx.recv().await != Some(i + 1) {
            eprintln!("metrics: the ping-pong between workers broke off at round {i}");
            break;
        }
    }
    drop(ping_tx);
    // The echo ends when its channel closes; a panic there is reported by the runtime.
    let _ = echo.await;
}

fn print(title: &str, metrics: &Metrics) {
    println!("== {title}");
    // `{:#?}` lists every field as `name: value,`, new fields included.
    for line in format!("{metrics:#?}").lines() {
        let line = line.trim().trim_end_matches(',');
        if line.contains(": ") {
            println!("  {line}");
        }
    }
}
