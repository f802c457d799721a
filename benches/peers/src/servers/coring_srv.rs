//! coring: `read`/`write_all` with one owned `Vec` per connection, or (`ring`) a multishot
//! receive into a shared provided-buffer ring (`recv_stream`), each received chunk written back
//! as it is (a `RingBuf` is an `IoBuf`) and returned to the ring when the write is done, or
//! (`pool`) what a user writes with no set-up: a `BufReader`, which reads through the runtime's
//! read pool (issue 19): echo `read`s into one `Vec` (the reader gathers the pool buffers
//! already received), HTTP parses each `fill_buf` slice.

use super::{
    print_stats, ready, responses, take_requests, Proto, ECHO_BUF, ENTRIES, HTTP_BUF, RESPONSE,
};
use crate::conn::{
    coring_accept_loop, coring_echo, coring_echo_ring, coring_http, coring_listener,
};
use coring::buf::BufRing;
use coring::io::BufReader;
use coring::net::TcpStream;
use std::io;

/// Buffers in the ring (echo: 1024 × 16 KiB; http: 256 × 4 KiB).
const RING_ECHO: u16 = 1024;
const RING_HTTP: u16 = 256;

/// The completion batching of the `coring-batch` server: up to 32 completions per wait, held at
/// most 50 µs (`Builder::completion_batch`).
const BATCH: (u32, u64) = (32, 50);

/// `epoll`: the same server on coring's readiness backend (`Builder::backend`).
pub fn run(proto: Proto, ring: bool, batch: bool, epoll: bool, pool: bool) {
    let mut builder = coring::Builder::new().entries(ENTRIES);
    // For experiments: PEERS_POOL_BUFFERS=COUNT,SIZE sets the runtime read pool's rings.
    if let Some((count, size)) = std::env::var("PEERS_POOL_BUFFERS").ok().and_then(|v| {
        let (n, size) = v.split_once(',')?;
        Some((n.parse().ok()?, size.parse().ok()?))
    }) {
        builder = builder.read_buffers(count, size);
    }
    if epoll {
        builder = builder.backend(coring::Backend::Epoll);
    }
    // For experiments: PEERS_CORING_BATCH=WAIT_FOR,MAX_DELAY_US sets (or with 0,0 removes) the
    // batching of any coring server.
    let batch = std::env::var("PEERS_CORING_BATCH")
        .ok()
        .and_then(|v| {
            let (n, us) = v.split_once(',')?;
            Some((n.parse().ok()?, us.parse().ok()?))
        })
        .or(batch.then_some(BATCH));
    if let Some((wait_for, max_delay_us)) = batch.filter(|&(n, _)| n > 1) {
        builder =
            builder.completion_batch(wait_for, std::time::Duration::from_micros(max_delay_us));
    }
    let runtime = builder
        .build()
        .unwrap_or_else(|err| panic!("coring runtime: {err}"));
    let (listener, port) = coring_listener();
    let (tx, mut rx) = coring::sync::mpsc::unbounded_channel::<()>();
    super::control_thread(move || {
        let _ = tx.send(());
    });
    ready(port, &runtime.ring_mode().to_string());
    runtime.block_on(async {
        let buffers = ring.then(|| {
            let (mut n, size) = match proto {
                Proto::Echo => (RING_ECHO, ECHO_BUF),
                Proto::Http => (RING_HTTP, HTTP_BUF),
            };
            // For experiments: PEERS_RING_BUFFERS=N overrides the number of buffers.
            if let Some(v) = std::env::var("PEERS_RING_BUFFERS")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                n = v;
            }
            BufRing::new(n, size).unwrap_or_else(|e| panic!("buffer ring: {e}"))
        });
        coring::spawn(coring_accept_loop(listener, move |stream| {
            match (proto, &buffers) {
                (Proto::Echo, None) if pool => coring::spawn(super::watch(echo_pool(stream))),
                (Proto::Http, None) if pool => coring::spawn(super::watch(http_pool(stream))),
                (Proto::Echo, None) => coring::spawn(super::watch(coring_echo(stream))),
                (Proto::Echo, Some(ring)) => {
                    coring::spawn(super::watch(coring_echo_ring(stream, ring.clone())))
                }
                (Proto::Http, None) => coring::spawn(super::watch(coring_http(stream))),
                (Proto::Http, Some(ring)) => {
                    coring::spawn(super::watch(http_ring(stream, ring.clone())))
                }
            };
        }));
        while rx.recv().await.is_some() {
            let stats = runtime.metrics();
            print_stats(&format!(
                "enters={} pushed={} completions={} rearms={} enobufs={}",
                stats.enters,
                stats.sqes_submitted,
                stats.completions,
                stats.multishot_rearms,
                stats.enobufs
            ));
        }
    });
}

async fn http_ring(stream: TcpStream, ring: BufRing) -> io::Result<()> {
    let mut chunks = stream.recv_stream(&ring);
    let mut pending = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let k = take_requests(&mut pending, &chunk?)?;
        match k {
            0 => {}
            1 => stream.write_all(RESPONSE).await.0?,
            k => stream.write_all(responses(k)).await.0?,
        }
    }
    Ok(())
}

/// `read` into one `Vec`, as the plain echo does: the reader copies every pool buffer already
/// received into it, so a message that came in several pool buffers goes out in one write.
async fn echo_pool(stream: TcpStream) -> io::Result<()> {
    use coring::io::AsyncReadRent;
    let mut reader = BufReader::new(stream);
    let mut out = Vec::with_capacity(ECHO_BUF);
    loop {
        out.clear();
        let (n, b) = reader.read(out).await;
        if n? == 0 {
            return Ok(());
        }
        let (written, b) = reader.get_ref().write_all(b).await;
        written?;
        out = b;
    }
}

async fn http_pool(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut pending = Vec::new();
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        let k = take_requests(&mut pending, chunk)?;
        let n = chunk.len();
        reader.consume(n);
        match k {
            0 => {}
            1 => reader.get_ref().write_all(RESPONSE).await.0?,
            k => reader.get_ref().write_all(responses(k)).await.0?,
        }
    }
}
