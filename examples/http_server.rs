//! A minimal keep-alive HTTP/1.1 server answering `Hello, world!`, for `wrk`.
//!
//! ```text
//! cargo run --release --example http_server -- [--addr 127.0.0.1:8080] [--workers N]
//! wrk -t2 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Per connection, one task and one input buffer. Every read appends to the buffer; every
//! complete request head in it is parsed with `httparse` and answered into one output buffer,
//! which goes out in a single write: pipelined requests cost one read and one write per batch.
//!
//! Bounds: a request head is at most 8 KiB (past that: `400 Bad Request` and close); a client
//! must send a whole head within 10 s of its first byte (slowloris: `408` and close); an idle
//! keep-alive connection is closed after 30 s. HTTP/1.1 keeps the connection unless the client
//! says `Connection: close`; HTTP/1.0 closes it unless the client says `Connection: keep-alive`.
//! A `Content-Length` body is read and ignored; `Transfer-Encoding` is answered with `501`.

#[path = "common/args.rs"]
mod args;
#[path = "common/http_date.rs"]
mod http_date;
#[path = "common/http_head.rs"]
mod http_head;
#[path = "common/server.rs"]
mod server;

use coring::buf::IoBuf;
use coring::net::TcpStream;
use coring::time::{timeout, timeout_at, Instant};
use http_head::{answer, response, MAX_HEAD};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

const USAGE: &str = "usage: http_server [--addr 127.0.0.1:8080] [--workers N]";
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let mut args = args::Args::from_env(USAGE);
    let addr: SocketAddr = args.value("--addr", "127.0.0.1:8080".parse().unwrap());
    let workers: usize = args.value("--workers", 1);
    args.finish();
    server::run("http_server", addr, workers, "keep-alive", |_, listener| {
        server::accept_each(listener, connection)
    });
}

async fn connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // Room for a whole 8 KiB head behind a partial one, and for many pipelined requests.
    let mut input = Vec::with_capacity(2 * MAX_HEAD);
    let mut output = Vec::with_capacity(4096);
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
            let (written, back) = stream.write_all(output).await;
            written?;
            output = back;
            output.clear();
        }
        if batch.close {
            return linger_close(stream).await;
        }
        // A partial head must be complete within HEAD_DEADLINE of its first byte.
        head_started = if input.is_empty() {
            None
        } else {
            head_started.or(Some(Instant::now()))
        };
        let deadline = match head_started {
            Some(start) => start + HEAD_DEADLINE,
            None => Instant::now() + IDLE_TIMEOUT,
        };
        let len = input.len();
        let Ok((read, back)) = timeout_at(deadline, stream.read(input.slice(len..))).await else {
            if head_started.is_some() {
                stream.write_all(response(408, "Request Timeout")).await.0?;
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
