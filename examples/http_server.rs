//! A minimal keep-alive HTTP/1.1 server answering `Hello, world!`, for `wrk`.
//!
//! ```text
//! cargo run --release --example http_server -- [--addr 127.0.0.1:8080] [--workers N] \
//!     [--head-deadline-ms 10000] [--idle-timeout-ms 30000] [--completion-batch 32,50] \
//!     [--root DIR] [--grace-ms 10000]
//! wrk -t2 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Per connection, one task and one input buffer (1 KiB at first, doubling when nearly full up
//! to 16 KiB, so an idle or slow connection holds little). Every read appends to it; every
//! complete request head in it is parsed with `httparse` and answered into one output buffer,
//! which goes out in a single write: pipelined requests cost one read and one write per batch.
//!
//! Bounds: a request head is at most 8 KiB (past that: `400 Bad Request` and close); a client
//! must send each whole head within 10 s of that head's first byte (slowloris: `408` and
//! close; a client pipelining without pause is timed head by head); an idle
//! keep-alive connection is closed after 30 s (both can be changed with `--head-deadline-ms` and
//! `--idle-timeout-ms`); a client that stops taking its responses is closed when a write has
//! waited the idle timeout. HTTP/1.1 keeps the connection unless the client
//! says `Connection: close`; HTTP/1.0 closes it unless the client says `Connection: keep-alive`
//! (on any of its `Connection` lines: together they are one list).
//!
//! At start-up, a bind that finds the address in use is retried for up to 2 s, so a server
//! killed with SIGKILL can be restarted on its port at once (the kernel frees the dead one's
//! listening socket a few milliseconds late, when it tears down its io_uring instance).
//!
//! A `Content-Length` body is read and ignored.
//!
//! Requests a proxy in front could read differently get `400 Bad Request` and close, as nginx
//! answers them (request smuggling): two `Content-Length`s that differ, one that is not plain
//! digits (`+5`), any `Transfer-Encoding` (no transfer coding is decoded, so the end of such a
//! body is unknown), and an HTTP/1.1 request without exactly one `Host`, or with a `Host` that
//! is not `host[:port]` (RFC 9112 §3.2).
//!
//! With `--root DIR` it serves the files under `DIR` instead, read through `coring::fs`
//! (`common/static_files.rs`). On Ctrl-C (`SIGINT`) or `SIGTERM` it stops accepting, lets
//! requests in progress finish (idle keep-alive connections close at once), and exits 0,
//! after `--grace-ms` (10 s) at most.

#[path = "common/args.rs"]
mod args;
#[path = "common/backend.rs"]
mod backend;
#[path = "common/http_date.rs"]
mod http_date;
#[path = "common/http_head.rs"]
mod http_head;
#[path = "common/server.rs"]
mod server;
#[path = "common/shutdown.rs"]
mod shutdown;
#[path = "common/static_files.rs"]
mod static_files;

use coring::buf::IoBuf;
use coring::net::TcpStream;
use coring::time::{timeout, timeout_at, Instant};
use http_head::{answer, response, MAX_HEAD};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::time::Duration;

const USAGE: &str = "usage: http_server [--addr 127.0.0.1:8080] [--workers N] \
                     [--head-deadline-ms 10000] [--idle-timeout-ms 30000] \
                     [--completion-batch N,MICROS] [--root DIR] [--grace-ms 10000]";
/// How long a client may take to send a whole request head, from that head's first byte.
const HEAD_DEADLINE_MS: u64 = 10_000;
/// How long a keep-alive connection may stay idle between requests.
const IDLE_TIMEOUT_MS: u64 = 30_000;

/// The read buffer a connection starts with (it doubles when nearly full, up to 16 KiB).
const FIRST_READ: usize = 1024;

/// The connection deadlines (`--head-deadline-ms`, `--idle-timeout-ms`).
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    head: Duration,
    idle: Duration,
}

fn main() {
    backend::report_fallback();
    let mut args = args::Args::from_env(USAGE);
    let addr: SocketAddr = args.value("--addr", "127.0.0.1:8080".parse().unwrap());
    let runtime = server::RuntimeOptions::from_args(&mut args);
    let deadlines = Deadlines {
        head: Duration::from_millis(args.value("--head-deadline-ms", HEAD_DEADLINE_MS)),
        idle: Duration::from_millis(args.value("--idle-timeout-ms", IDLE_TIMEOUT_MS)),
    };
    let root = args.value("--root", String::new());
    let root = (!root.is_empty()).then(|| std::path::PathBuf::from(root));
    args.finish();
    server::run(
        "http_server",
        addr,
        &runtime,
        if root.is_some() {
            "static files"
        } else {
            "keep-alive"
        },
        move |_, listener| {
            let root = root.clone();
            async move {
                match root {
                    Some(root) => {
                        let serve = |s| static_files::connection(s, root.clone(), deadlines.idle);
                        server::accept_each(listener, serve).await
                    }
                    None => server::accept_each(listener, |s| connection(s, deadlines)).await,
                }
            }
        },
    );
}

async fn connection(stream: TcpStream, deadlines: Deadlines) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // Small at first, so an idle or slow connection holds little; grown as needed up to room
    // for a whole 8 KiB head behind a partial one (and for many pipelined requests).
    let mut input = Vec::with_capacity(FIRST_READ);
    let mut output = Vec::new(); // allocated by the first response
    let mut skip = 0; // body bytes still to discard
    let mut head_started: Option<Instant> = None;
    loop {
        let drop_body = skip.min(input.len());
        input.drain(..drop_body);
        skip -= drop_body;
        let batch = answer(&input, &mut output);
        input.drain(..batch.consumed);
        skip += batch.skip;
        if !output.is_empty() {
            // A client that does not take its responses (it pipelines requests and never reads)
            // would hold the task, the fd and a full send queue forever: the idle timeout
            // bounds each write too.
            let Ok((written, back)) = timeout(deadlines.idle, stream.write_all(output)).await
            else {
                return Ok(()); // close: the client stopped reading
            };
            written?;
            output = back;
            output.clear();
        }
        if batch.close {
            return linger_close(stream).await;
        }
        // A partial head must be complete within the head deadline of its own first byte. When
        // heads were just answered, what is left is the start of the next one, which came with
        // the last read: its clock starts now (a client that pipelines without pause always
        // has a partial head here, and must not be timed from its connection's first).
        head_started = match (input.is_empty(), batch.consumed) {
            (true, _) => None,
            (false, 0) => head_started.or(Some(Instant::now())),
            (false, _) => Some(Instant::now()),
        };
        let deadline = match head_started {
            Some(start) => start + deadlines.head,
            None => Instant::now() + deadlines.idle,
        };
        // Never past 2 * MAX_HEAD: what is left here is less than one head (a longer partial
        // head has been answered with 400), so at least MAX_HEAD bytes of room stay free.
        if input.capacity() - input.len() < FIRST_READ / 2 && input.capacity() < 2 * MAX_HEAD {
            let room = (2 * input.capacity()).min(2 * MAX_HEAD);
            input.reserve_exact(room - input.len());
        }
        let len = input.len();
        let read = pin!(timeout_at(deadline, stream.read(input.slice(len..))));
        // Idle between requests, a stopping server closes the connection (see shutdown.rs).
        let Some(Ok((read, back))) = shutdown::unless_stopped(head_started.is_none(), read).await
        else {
            if head_started.is_some() {
                let answer = stream.write_all(response(408, "Request Timeout"));
                if let Ok((written, _)) = timeout(deadlines.idle, answer).await {
                    written?;
                }
            }
            return Ok(()); // idle: just close
        };
        if read? == 0 {
            return Ok(()); // the client closed
        }
        input = back.into_inner();
    }
}

/// Closes after the responses, without losing them: shut down the writing side, then read
/// what the client still sends for a little while. Closing a socket with unread input resets
/// the connection, and the reset can destroy the response before the client has read it.
async fn linger_close(stream: TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write).await?;
    let mut buf = Vec::with_capacity(4096);
    let drain = async {
        for _ in 0..64 {
            buf.clear();
            let (read, back) = stream.read(std::mem::take(&mut buf)).await;
            buf = back;
            if read? == 0 {
                break;
            }
        }
        io::Result::Ok(())
    };
    let _ = timeout(Duration::from_secs(2), drain).await;
    Ok(())
}
