//! The seed's `wget`: fetch the response headers of several web sites at once, on one thread.
//!
//! ```text
//! cargo run --release --example wget                      # three demo sites on loopback
//! cargo run --release --example wget -- www.example.com www.rust-lang.org:80 [--timeout 10]
//! ```
//!
//! For each `HOST[:PORT]` (port 80 by default) it prints `wget HOST...`, connects, sends
//! `GET / HTTP/1.0` with a `Host` header, reads the response's head line by line up to the blank
//! line, prints each line as `HOST header > LINE`, and closes. With no host given it first starts
//! three small HTTP servers on loopback, in the same runtime, and fetches from them.
//!
//! # From asyncio to coring
//!
//! | seed (asyncio)                                 | here (coring)                              |
//! |------------------------------------------------|--------------------------------------------|
//! | `loop = asyncio.get_event_loop()`              | `coring::block_on(async { ... })`          |
//! | `tasks = [wget(host) for host in ...]`         | `coring::spawn(wget(host, limit))` each    |
//! | `loop.run_until_complete(asyncio.wait(tasks))` | `coring::task::join_all(tasks).await`      |
//! | `yield from asyncio.open_connection(host, 80)` | `TcpStream::connect((host, port)).await`   |
//! | `writer.write(header)`; `yield from drain()`   | `stream.write_all(request).await`          |
//! | `yield from reader.readline()`                 | `reader.next_line(8192).await`             |
//! | `writer.close()`                               | dropping the stream                        |
//!
//! Host names are resolved off the core (on the blocking pool), so one slow DNS answer does not
//! stall the other fetches. `write_all` takes the request *by value*: the kernel reads it after
//! the call has returned, so the buffer belongs to the operation until it hands it back.
//! `next_line` returns a slice of the reader's own buffer (no copy) and refuses a line longer
//! than its bound instead of growing.
//!
//! Unlike the seed, one bad site cannot hang or kill the others: each fetch (connect included)
//! has a time limit (`--timeout SECS`, 10 by default), a header line may be at most 8 KiB and a
//! head at most 100 header lines, and a failing site prints one line `HOST error > REASON`. The
//! exit status is 1 if any site failed. A site's lines are printed together once its head is
//! complete, so the heads of sites answering at the same time do not interleave.

#[path = "common/args.rs"]
mod args;
#[path = "common/backend.rs"]
mod backend;
#[path = "common/demo_servers.rs"]
mod demo_servers;
#[path = "common/http_date.rs"]
mod http_date;
#[path = "common/http_head.rs"]
mod http_head;

use coring::io::BufReader;
use coring::net::TcpStream;
use http_head::{ResponseHead, MAX_LINE};
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: wget [--timeout SECS] [HOST[:PORT] ...]\n\
                     With no host, fetches from three demo servers it starts on loopback.";
const DEFAULT_PORT: u16 = 80;

fn main() -> ExitCode {
    backend::report_fallback();
    let mut args = args::Args::from_env(USAGE);
    let limit = args.seconds("--timeout", 10.0);
    let hosts = args.finish();

    let all_ok = coring::block_on(async move {
        let hosts = if hosts.is_empty() {
            eprintln!("(no host given: fetching from three demo servers on loopback)");
            demo_servers::start().expect("start the demo servers")
        } else {
            hosts
        };
        let tasks = hosts
            .into_iter()
            .map(|host| coring::spawn(wget(host, limit)));
        let done = coring::task::join_all(tasks).await;
        done.into_iter().all(|fetched| matches!(fetched, Ok(true)))
    });
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Fetches `host`'s response head and prints it, or one error line. Returns whether it worked.
async fn wget(host: String, limit: Duration) -> bool {
    println!("wget {host}...");
    let outcome = match coring::time::timeout(limit, fetch_head(&host)).await {
        Ok(outcome) => outcome,
        Err(_elapsed) => Err(format!("timed out after {limit:?}")),
    };
    let mut out = std::io::stdout().lock();
    match outcome {
        Ok(lines) => {
            for line in &lines {
                let _ = writeln!(out, "{host} header > {line}");
            }
            true
        }
        Err(reason) => {
            let _ = writeln!(out, "{host} error > {reason}");
            false
        }
    }
}

/// Connects, sends the request, and returns the head's lines (status line first, without line
/// endings), or why not. The connection is closed when this returns (the body is ignored).
async fn fetch_head(host: &str) -> Result<Vec<String>, String> {
    let stream = TcpStream::connect(address(host)?)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let request = format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let (sent, _request) = stream.write_all(request).await;
    sent.map_err(|e| format!("cannot send the request: {e}"))?;

    let mut reader = BufReader::with_capacity(MAX_LINE, stream);
    let mut head = ResponseHead::default();
    loop {
        let line = match reader.next_line(MAX_LINE).await {
            Ok(Some(line)) if line.ends_with(b"\n") => line,
            Ok(_) => return Err("connection closed before the end of the header".into()),
            Err(e) if e.kind() == ErrorKind::InvalidData => {
                return Err(format!("header line longer than {MAX_LINE} bytes"))
            }
            Err(e) => return Err(format!("cannot read the response: {e}")),
        };
        if head.line(line)? {
            return Ok(head.lines);
        }
    }
}

/// `HOST[:PORT]` as `TcpStream::connect` takes it: `"example.com"`, `"example.com:8080"`,
/// `"127.0.0.1:80"`, `"::1"`, `"[::1]"` and `"[::1]:8080"`.
///
/// # Errors
///
/// A port that is not a number from 0 to 65535 (`"localhost:70000"`): a host name has no
/// colon, so the resolver could only fail on it, and say less.
fn address(arg: &str) -> Result<(String, u16), String> {
    if let Ok(addr) = arg.parse::<SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    match arg.rsplit_once(':') {
        Some((host, port)) if arg.parse::<IpAddr>().is_err() && !arg.ends_with(']') => {
            match port.parse() {
                Ok(port) => Ok((host.to_owned(), port)),
                Err(_) => Err(format!(
                    "invalid port '{port}' (expected a number from 0 to 65535)"
                )),
            }
        }
        _ => Ok((arg.to_owned(), DEFAULT_PORT)),
    }
}
