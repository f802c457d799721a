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
#[path = "common/server.rs"]
mod server;

use coring::buf::IoBuf;
use coring::net::TcpStream;
use coring::time::{timeout, timeout_at, Instant};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

const USAGE: &str = "usage: http_server [--addr 127.0.0.1:8080] [--workers N]";
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const BODY: &str = "Hello, world!";

fn main() {
    let mut args = args::Args::from_env(USAGE);
    let addr: SocketAddr = args.value("--addr", "127.0.0.1:8080".parse().unwrap());
    let workers: usize = args.value("--workers", 1);
    args.finish();
    server::run("http_server", addr, workers, "keep-alive", |_, listener| {
        server::accept_each(listener, connection)
    });
}

/// What a batch of input asks for, once its complete requests are answered.
struct Batch {
    /// Input bytes used up (heads and bodies).
    consumed: usize,
    /// Body bytes of the last request still to come (to be skipped).
    skip: usize,
    /// Close once the responses are written.
    close: bool,
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

/// Answers every complete request at the front of `input` into `output`.
fn answer(input: &[u8], output: &mut Vec<u8>) -> Batch {
    let mut batch = Batch {
        consumed: 0,
        skip: 0,
        close: false,
    };
    while batch.consumed < input.len() {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let rest = &input[batch.consumed..];
        let head_len = match request.parse(rest) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
            Ok(httparse::Status::Partial) if rest.len() < MAX_HEAD => break,
            // Too long, malformed, or too many headers.
            _ => return bad_request(batch, output, 400, "Bad Request"),
        };
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        if header("transfer-encoding").is_some() {
            return bad_request(batch, output, 501, "Not Implemented");
        }
        let body_len = match header("content-length").map(std::str::from_utf8) {
            None => 0,
            Some(Ok(text)) => match text.trim().parse::<usize>() {
                Ok(n) => n,
                Err(_) => return bad_request(batch, output, 400, "Bad Request"),
            },
            Some(Err(_)) => return bad_request(batch, output, 400, "Bad Request"),
        };
        let connection = header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let has = |token: &str| {
            connection
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii() == token.as_bytes())
        };
        batch.close = match request.version {
            Some(1) => has("close"),
            _ => !has("keep-alive"),
        };
        write_hello(
            output,
            request.method == Some("HEAD"),
            request.version,
            batch.close,
        );
        let body_here = body_len.min(rest.len() - head_len);
        batch.consumed += head_len + body_here;
        batch.skip = body_len - body_here;
        if batch.close || batch.skip > 0 {
            break;
        }
    }
    batch
}

fn write_hello(output: &mut Vec<u8>, head_only: bool, version: Option<u8>, close: bool) {
    let connection = match (close, version) {
        (true, _) => "Connection: close\r\n",
        (false, Some(0)) => "Connection: keep-alive\r\n",
        (false, _) => "",
    };
    http_date::with_now(|date| {
        output.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nServer: coring\r\nDate: {date}\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\n{connection}\r\n",
                BODY.len()
            )
            .as_bytes(),
        );
    });
    if !head_only {
        output.extend_from_slice(BODY.as_bytes());
    }
}

/// An error response, after the responses already in `output`; then the connection closes.
fn bad_request(mut batch: Batch, output: &mut Vec<u8>, code: u16, reason: &str) -> Batch {
    output.extend_from_slice(&response(code, reason));
    batch.close = true;
    batch
}

/// A response without a body that closes the connection.
fn response(code: u16, reason: &str) -> Vec<u8> {
    http_date::with_now(|date| {
        format!(
            "HTTP/1.1 {code} {reason}\r\nServer: coring\r\nDate: {date}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    })
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
