//! A load generator for `echo_server`: `--connections` clients doing ping-pong on one core.
//!
//! ```text
//! cargo run --release --example echo_client -- [--addr 127.0.0.1:7000] [--connections 50]
//!     [--size 1024] [--duration 5]
//! ```
//!
//! Each connection is a task: write a `size`-byte message while reading the `size` bytes that
//! come back, check they are the message, note the round-trip time, repeat until the time is
//! up. At the end: requests per second over all connections and the latency percentiles.
//!
//! The echo is read *while* the message is written: a message larger than the socket buffers
//! starts coming back before it is all sent, and a client that wrote it all first would wait
//! for a server that waits for it to read. `--duration` is a deadline: a round trip still
//! under way then is cut short and not counted. `--connections` must be at least 1.

#[path = "common/args.rs"]
mod args;
#[path = "common/backend.rs"]
mod backend;

use coring::buf::IoBuf;
use coring::io::AsyncReadRentExt;
use coring::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream};
use coring::time::{timeout_at, Instant};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

const USAGE: &str = "usage: echo_client [--addr 127.0.0.1:7000] [--connections 50] \
                     [--size 1024] [--duration 5]";

fn main() -> ExitCode {
    backend::report_fallback();
    let mut args = args::Args::from_env(USAGE);
    let addr: SocketAddr = args.value("--addr", "127.0.0.1:7000".parse().unwrap());
    let connections: usize = args.value("--connections", 50);
    let size: usize = args.value("--size", 1024).max(8);
    let duration = args.seconds("--duration", 5.0);
    if connections == 0 {
        args.fail("--connections 0: there would be nothing to measure (at least 1)");
    }
    args.finish();

    println!(
        "echo_client: {connections} connections, {size}-byte messages, {duration:?} against {addr}"
    );
    let (results, elapsed) = coring::block_on(async move {
        // Connect everyone first, so the clock measures ping-pong only.
        let mut streams = Vec::with_capacity(connections);
        for _ in 0..connections {
            streams.push(TcpStream::connect(addr).await?);
        }
        let start = Instant::now();
        let end = start + duration;
        let tasks = streams
            .into_iter()
            .enumerate()
            .map(|(i, stream)| coring::spawn(ping_pong(stream, i, size, end)));
        let results = coring::task::join_all(tasks).await;
        io::Result::Ok((results, start.elapsed()))
    })
    .unwrap_or_else(|err| {
        eprintln!("echo_client: cannot connect to {addr}: {err}");
        std::process::exit(1);
    });

    let mut latencies = Vec::new();
    let mut failed = 0;
    for result in results {
        match result.expect("a connection task panicked") {
            Ok(mut rtts) => latencies.append(&mut rtts),
            Err(err) => {
                eprintln!("echo_client: connection failed: {err}");
                failed += 1;
            }
        }
    }
    latencies.sort_unstable();
    let count = latencies.len();
    let rate = count as f64 / elapsed.as_secs_f64();
    println!("requests: {count} in {elapsed:.2?} = {rate:.0} req/s; failed connections: {failed}");
    if count > 0 {
        let at =
            |q: f64| Duration::from_nanos(latencies[((count as f64 * q) as usize).min(count - 1)]);
        println!(
            "latency: p50 {:.1?}, p99 {:.1?}, p999 {:.1?}, max {:.1?}",
            at(0.50),
            at(0.99),
            at(0.999),
            Duration::from_nanos(latencies[count - 1])
        );
    }
    if count == 0 && failed == 0 {
        eprintln!("echo_client: no round trip finished within {duration:?}");
    }
    if failed == 0 && count > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Round trips until `end`; returns each one's time in nanoseconds.
async fn ping_pong(
    stream: TcpStream,
    id: usize,
    size: usize,
    end: Instant,
) -> io::Result<Vec<u64>> {
    stream.set_nodelay(true)?;
    let (mut reader, writer) = stream.into_split();
    let mut message: Vec<u8> = (0..size).map(|i| (i * 7 + id) as u8).collect();
    let mut reply = Vec::with_capacity(size);
    let mut rtts = Vec::new();
    let mut seq: u64 = 0;
    while Instant::now() < end {
        seq += 1;
        message[..8].copy_from_slice(&seq.to_le_bytes()); // every message differs
        let sent = Instant::now();
        let round_trip = round_trip(&mut reader, &writer, message, reply);
        let Ok(buffers) = timeout_at(end, round_trip).await else {
            break; // the time is up in the middle of a round trip: not counted
        };
        (message, reply) = buffers?;
        rtts.push(sent.elapsed().as_nanos() as u64);
        if reply != message {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the echo differs from the message",
            ));
        }
    }
    Ok(rtts)
}

/// Writes `message` and reads its echo into `reply` at the same time; gives both back.
async fn round_trip(
    reader: &mut OwnedReadHalf,
    writer: &OwnedWriteHalf,
    message: Vec<u8>,
    reply: Vec<u8>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let size = message.len();
    let ((written, message), (read, reply)) = join(
        writer.write_all(message),
        reader.read_exact(reply.slice(..size)),
    )
    .await;
    written?;
    read?;
    Ok((message, reply.into_inner()))
}

/// Both outputs, the two futures polled in turn until each is done.
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut a_out, mut b_out) = (None, None);
    poll_fn(|cx| {
        if a_out.is_none() {
            if let Poll::Ready(out) = a.as_mut().poll(cx) {
                a_out = Some(out);
            }
        }
        if b_out.is_none() {
            if let Poll::Ready(out) = b.as_mut().poll(cx) {
                b_out = Some(out);
            }
        }
        match (a_out.take(), b_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (a_out, b_out) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}
