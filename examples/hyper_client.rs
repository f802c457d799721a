//! Fetches a URL with hyper's HTTP/1.1 client on coring (feature `hyper`), and prints the
//! status, the headers and the body.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_client -- http://127.0.0.1:8080/ [--timeout 10]
//! ```
//!
//! The connection is a coring `TcpStream` (the host name resolved off the core) wrapped in
//! `coring::compat::hyper::HyperIo`; hyper's connection task runs as a coring task beside the
//! request. Plain `http://` only (no TLS). What the server sent is printed with control
//! characters escaped, so a server cannot send escape sequences to the terminal; the body is
//! cut at 64 KiB.

#[path = "common/args.rs"]
mod args;
#[path = "common/http_date.rs"]
mod http_date;
#[path = "common/http_head.rs"]
mod http_head;

use bytes::Bytes;
use coring::compat::hyper::HyperIo;
use coring::net::TcpStream;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1;
use hyper::Request;
use std::io;

const USAGE: &str = "usage: hyper_client http://HOST[:PORT][/PATH] [--timeout SECS]";
/// The most body bytes printed.
const MAX_BODY: usize = 64 * 1024;

fn main() {
    let mut args = args::Args::from_env(USAGE);
    let limit = args.seconds("--timeout", 10.0);
    let [url] = <[String; 1]>::try_from(args.finish()).unwrap_or_else(|_| {
        eprintln!("{USAGE}");
        std::process::exit(2);
    });
    let fetched = coring::block_on(async move {
        coring::time::timeout(limit, fetch(&url))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")))
    });
    if let Err(err) = fetched {
        eprintln!("hyper_client: {err}");
        std::process::exit(1);
    }
}

/// `http://host[:port][/path]` as (host, port, path).
fn parse_url(url: &str) -> io::Result<(String, u16, String)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are supported"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            (host, port.parse().map_err(|_| bad("bad port"))?)
        }
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let path = if path.is_empty() { "/" } else { path };
    Ok((
        host.trim_matches(['[', ']']).to_owned(),
        port,
        path.to_owned(),
    ))
}

async fn fetch(url: &str) -> io::Result<()> {
    let (host, port, path) = parse_url(url)?;
    let stream = TcpStream::connect((host.as_str(), port)).await?;
    let (mut sender, connection) = http1::handshake(HyperIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    // The connection drives the socket while the request waits for its response.
    let driver = coring::spawn(connection);
    let request = Request::get(&path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(io::Error::other)?;
    println!("{:?} {}", response.version(), response.status());
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        println!("{name}: {}", http_head::printable(&value));
    }
    println!();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|err| io::Error::other(format!("body: {err}")))?
        .to_bytes();
    for line in String::from_utf8_lossy(&body).split('\n') {
        println!("{}", http_head::printable(line));
    }
    drop(sender);
    let finished = driver
        .await
        .map_err(|err| io::Error::other(err.to_string()))?;
    finished.map_err(io::Error::other)
}
