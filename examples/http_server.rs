//! A minimal keep-alive HTTP/1.1 server answering `Hello, world!`, for `wrk`.
//!
//! ```text
//! cargo run --release --example http_server -- [--addr 127.0.0.1:8080] [--workers N] \
//!     [--head-deadline-ms 10000] [--idle-timeout-ms 30000] [--completion-batch 32,50] \
//!     [--root DIR] [--grace-ms 10000]
//! wrk -t2 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Per connection, one task and a `BufReader`, which reads through the runtime's read pool (a
//! multishot receive into provided buffers): an idle or slow connection holds no read buffer.
//! Every complete request head in what arrived is parsed with `httparse` straight from the
//! kernel-filled buffer and answered into one output buffer, which goes out in a single write:
//! pipelined requests cost one write per batch. Only a head split across two arrivals is
//! copied, into a side buffer, until it is complete. (A server that writes each response on its
//! own gets the same one send per batch from `BufReader<BufWriter<TcpStream>>`, see
//! `coring::io::BufWriter`; this one keeps its output buffer because it answers every head of
//! an arrival at once, with no copy into a `BufWriter`, and bounds its writes by the idle
//! timeout apart from the read deadlines.)
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
//! A `Content-Length` body of up to 1 MiB is read and ignored; a longer one gets
//! `413 Content Too Large` and a close, before any of it is read.
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

use coring::io::BufReader;
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
    // Reads go through the runtime's read pool: requests are parsed straight from the buffer
    // the kernel filled, and a waiting connection holds no read buffer.
    let mut reader = BufReader::with_capacity(2 * MAX_HEAD, stream);
    // Only a head split across two reads is copied, here, until it is complete.
    let mut partial = Vec::new();
    let mut output = Vec::new(); // allocated by the first response
    let mut skip = 0; // body bytes still to discard
    let mut head_started: Option<Instant> = None;
    loop {
        let batch = match partial.is_empty() {
            true => {
                let input = reader.buffer();
                let (used, batch) = answer_skipping(input, &mut skip, &mut output);
                partial.extend_from_slice(&input[used..]);
                let len = input.len();
                reader.consume(len);
                batch
            }
            false => {
                let (used, batch) = answer_skipping(&partial, &mut skip, &mut output);
                partial.drain(..used);
                batch
            }
        };
        if partial.is_empty() && partial.capacity() > 0 {
            partial = Vec::new();
        }
        if !output.is_empty() {
            // A client that does not take its responses (it pipelines requests and never reads)
            // would hold the task, the fd and a full send queue forever: the idle timeout
            // bounds each write too.
            let write = reader.get_ref().write_all(output);
            let Ok((written, back)) = timeout(deadlines.idle, write).await else {
                return Ok(()); // close: the client stopped reading
            };
            written?;
            output = back;
            output.clear();
        }
        if batch.close {
            return linger_close(reader).await;
        }
        // A partial head must be complete within the head deadline of its own first byte. When
        // heads were just answered, what is left is the start of the next one, which came with
        // the last read: its clock starts now (a client that pipelines without pause always
        // has a partial head here, and must not be timed from its connection's first).
        head_started = match (partial.is_empty(), batch.consumed) {
            (true, _) => None,
            (false, 0) => head_started.or(Some(Instant::now())),
            (false, _) => Some(Instant::now()),
        };
        let deadline = match head_started {
            Some(start) => start + deadlines.head,
            None => Instant::now() + deadlines.idle,
        };
        let read = {
            let fill = async { reader.fill_buf().await.map(|bytes| bytes.len()) };
            let read = pin!(timeout_at(deadline, fill));
            // Idle between requests, a stopping server closes the connection (see shutdown.rs).
            shutdown::unless_stopped(head_started.is_none(), read).await
        };
        let Some(Ok(read)) = read else {
            if head_started.is_some() {
                let answer = reader.get_ref().write_all(response(408, "Request Timeout"));
                if let Ok((written, _)) = timeout(deadlines.idle, answer).await {
                    written?;
                }
            }
            return Ok(()); // idle: just close
        };
        if read? == 0 {
            return Ok(()); // the client closed
        }
        if !partial.is_empty() {
            // The rest of a split head: join it (what is left is less than one head, a longer
            // partial head has been answered with 400, so this stays under 2 * MAX_HEAD plus
            // one read).
            let input = reader.buffer();
            partial.extend_from_slice(input);
            let len = input.len();
            reader.consume(len);
        }
    }
}

/// Discards what is left of the last request's body, then answers every complete request of
/// `input`. Returns how many bytes of `input` are used up, with the batch.
fn answer_skipping(
    input: &[u8],
    skip: &mut usize,
    output: &mut Vec<u8>,
) -> (usize, http_head::Batch) {
    let dropped = (*skip).min(input.len());
    *skip -= dropped;
    let batch = answer(&input[dropped..], output);
    *skip += batch.skip;
    (dropped + batch.consumed, batch)
}

/// Closes after the responses, without losing them: shut down the writing side, then read
/// what the client still sends for a little while. Closing a socket with unread input resets
/// the connection, and the reset can destroy the response before the client has read it.
async fn linger_close(mut reader: BufReader<TcpStream>) -> io::Result<()> {
    reader.get_ref().shutdown(Shutdown::Write).await?;
    let drain = async {
        for _ in 0..64 {
            let read = reader.fill_buf().await?.len();
            if read == 0 {
                break;
            }
            reader.consume(read);
        }
        io::Result::Ok(())
    };
    let _ = timeout(Duration::from_secs(2), drain).await;
    Ok(())
}
