//! The connections of `benches/net` and `benches/peers` (both include this file with `#[path]`):
//! the accept loops and the echo and HTTP handlers of the coring and tokio servers, the counting
//! of HTTP request heads that every server does, and the fetch of the coring and tokio wget
//! clients. One copy, so the two suites measure the same code.
//!
//! * echo: one buffer of [`ECHO_BUF`] bytes per connection reused for every read, whatever was
//!   read written back whole (`write_all`), `TCP_NODELAY` set.
//! * http: a [`HTTP_BUF`]-byte read buffer; every complete request head (up to `\r\n\r\n`) is
//!   answered with the fixed [`RESPONSE`]. No parsing beyond that.

// Each includer uses a different part of this file.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;

/// Read buffer of every echo server (and buffer size of coring's buffer ring for echo).
pub const ECHO_BUF: usize = 16 * 1024;
/// Read buffer of the HTTP servers and the wget clients.
pub const HTTP_BUF: usize = 4096;
/// Longest request or response head accepted.
pub const HEAD_MAX: usize = 8 * 1024;
/// The answer to every request head.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";

// --- accept loops -----------------------------------------------------------------------------

/// A coring listener on 127.0.0.1 (any port) with a backlog of 4096, and its port.
pub fn coring_listener() -> (coring::net::TcpListener, u16) {
    use coring::net::{ListenOptions, TcpListener};
    let listener =
        TcpListener::bind_with("127.0.0.1:0", &ListenOptions::new().backlog(4096)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    (listener, port)
}

/// Accepts connections forever, sets `TCP_NODELAY` on each and hands it to `serve` (which
/// spawns its handler); a failed accept is reported and the loop goes on.
pub async fn coring_accept_loop(
    listener: coring::net::TcpListener,
    mut serve: impl FnMut(coring::net::TcpStream),
) {
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        match stream {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                serve(stream);
            }
            Err(err) => eprintln!("coring accept: {err}"),
        }
    }
}

/// [`coring_accept_loop`] on tokio, from a std listener.
pub async fn tokio_accept_loop(
    listener: std::net::TcpListener,
    mut serve: impl FnMut(tokio::net::TcpStream),
) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                serve(stream);
            }
            Err(err) => eprintln!("tokio accept: {err}"),
        }
    }
}

// --- coring handlers --------------------------------------------------------------------------

/// Echo with one reused `Vec`: read what came, write it back.
pub async fn coring_echo(stream: coring::net::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(ECHO_BUF);
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let (written, b) = stream.write_all(b).await;
        written?;
        buf = b;
    }
}

/// Echo from a multishot receive into a shared buffer ring: each chunk is a `RingBuf`, written
/// back as it is (no copy) and handed back to the ring once the write returns it.
pub async fn coring_echo_ring(
    stream: coring::net::TcpStream,
    ring: coring::buf::BufRing,
) -> io::Result<()> {
    let mut chunks = stream.recv_stream(&ring);
    while let Some(chunk) = chunks.next().await {
        let (written, _chunk) = stream.write_all(chunk?).await;
        written?;
    }
    Ok(())
}

pub async fn coring_http(stream: coring::net::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(HTTP_BUF);
    let mut pending = Vec::new();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        if n? == 0 {
            return Ok(());
        }
        match take_requests(&mut pending, &buf)? {
            0 => {}
            1 => stream.write_all(RESPONSE).await.0?,
            k => stream.write_all(responses(k)).await.0?,
        }
    }
}

// --- tokio handlers ---------------------------------------------------------------------------

pub async fn tokio_echo(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; ECHO_BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

pub async fn tokio_http(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; HTTP_BUF];
    let mut pending = Vec::new();
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        match take_requests(&mut pending, &buf[..n])? {
            0 => {}
            1 => stream.write_all(RESPONSE).await?,
            k => stream.write_all(&responses(k)).await?,
        }
    }
}

// --- request heads ----------------------------------------------------------------------------

/// Counts the complete request heads in `pending` + `data` and keeps the incomplete rest in
/// `pending`. When `pending` is empty and `data` ends on a head (the usual case: one request per
/// read), nothing is copied. A head longer than [`HEAD_MAX`] is `InvalidData`.
pub fn take_requests(pending: &mut Vec<u8>, data: &[u8]) -> io::Result<usize> {
    let (count, used) = if pending.is_empty() {
        let (count, used) = count_heads(data);
        pending.extend_from_slice(&data[used..]);
        (count, 0)
    } else {
        pending.extend_from_slice(data);
        count_heads(pending)
    };
    pending.drain(..used);
    if pending.len() > HEAD_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request head too long",
        ));
    }
    Ok(count)
}

/// How many complete heads `data` starts with, and how many bytes they take.
fn count_heads(data: &[u8]) -> (usize, usize) {
    let mut start = 0;
    let mut count = 0;
    while let Some(end) = head_end(&data[start..]) {
        start += end;
        count += 1;
    }
    (count, start)
}

/// The length of the head at the start of `data`, through its blank line, if it is complete.
pub fn head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// `k` responses back to back (`k` > 1 only when a client pipelines; wrk does not).
pub fn responses(k: usize) -> Vec<u8> {
    RESPONSE.repeat(k)
}

// --- wget fetches -----------------------------------------------------------------------------

/// Collects response bytes until the head is complete: `Ok(true)` when it is.
#[derive(Default)]
pub struct Head {
    seen: Vec<u8>,
}

impl Head {
    /// Takes the bytes of one read (none: the connection closed first).
    pub fn feed(&mut self, data: &[u8]) -> io::Result<bool> {
        if data.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the response head",
            ));
        }
        if self.seen.is_empty() && head_end(data).is_some() {
            return Ok(true);
        }
        self.seen.extend_from_slice(data);
        if head_end(&self.seen).is_some() {
            return Ok(true);
        }
        if self.seen.len() > HEAD_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too long",
            ));
        }
        Ok(false)
    }
}

/// One fetch on coring: connect, send `get`, read up to the end of the response head, close.
pub async fn fetch_coring(
    addr: SocketAddr,
    get: &'static [u8],
    mut buf: Vec<u8>,
) -> (io::Result<()>, Vec<u8>) {
    let stream = match coring::net::TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return (Err(err), buf),
    };
    if let (Err(err), _) = stream.write_all(get).await {
        return (Err(err), buf);
    }
    let mut head = Head::default();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        match n.and_then(|n| head.feed(&buf[..n])) {
            Ok(true) => return (Ok(()), buf),
            Ok(false) => {}
            Err(err) => return (Err(err), buf),
        }
    }
}

/// [`fetch_coring`] on tokio.
pub async fn fetch_tokio(addr: SocketAddr, get: &[u8], buf: &mut [u8]) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(get).await?;
    let mut head = Head::default();
    loop {
        let n = stream.read(buf).await?;
        if head.feed(&buf[..n])? {
            return Ok(());
        }
    }
}
