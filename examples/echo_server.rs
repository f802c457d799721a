//! A TCP echo server: every byte a client sends comes back.
//!
//! ```text
//! cargo run --release --example echo_server -- [--addr 127.0.0.1:7000] [--workers N] [--ring] \
//!     [--completion-batch 32,50] [--grace-ms 10000]
//! cargo run --release --example echo_client -- --connections 50 --size 1024 --duration 5
//! ```
//!
//! Each connection is a task with one owned buffer that goes to the kernel with every read and
//! comes back with the bytes (`(result, buf) = stream.read(buf).await`), then goes out with
//! `write_all` and comes back again: no copy, no allocation per message.
//!
//! With `--ring`, connections read through a provided buffer ring instead (`recv_stream`): an
//! idle connection holds no buffer at all, the kernel takes one from the worker's shared ring
//! only when bytes arrive. Each chunk is written back as it is (a `RingBuf` is an owned buffer
//! like any other) and goes back to the ring once the write is done: no copy, and no buffer
//! held by an idle connection.
//!
//! On Ctrl-C (`SIGINT`) or `SIGTERM` it stops accepting, closes each connection once it has
//! echoed everything it read, and exits 0 (after `--grace-ms`, 10 s, at most).
//!
//! With `--workers N`, N cores each run a runtime and a `SO_REUSEPORT` listener of their own.
//!
//! At start-up, a bind that finds the address in use is retried for up to 2 s, so a server
//! killed with SIGKILL can be restarted on its port at once (the kernel frees the dead one's
//! listening socket a few milliseconds late, when it tears down its io_uring instance).
//!
//! It is a benchmark server, so it sets no deadlines: a connection lives as long as its client
//! keeps it open, idle or not reading. A server facing the internet needs per-connection
//! deadlines; `http_server` shows them (head, idle, and stalled writes).

#[path = "common/args.rs"]
mod args;
#[path = "common/backend.rs"]
mod backend;
#[path = "common/server.rs"]
mod server;
#[path = "common/shutdown.rs"]
mod shutdown;

use coring::buf::BufRing;
use coring::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;

const USAGE: &str = "usage: echo_server [--addr 127.0.0.1:7000] [--workers N] [--ring] \
                     [--completion-batch N,MICROS] [--grace-ms 10000]";
/// Bytes read at a time per connection.
const BUF_SIZE: usize = 16 * 1024;
/// Buffers in each worker's ring for `--ring` (of `BUF_SIZE` bytes: 8 MiB per worker).
const RING_ENTRIES: u16 = 512;

fn main() {
    backend::report_fallback();
    let mut args = args::Args::from_env(USAGE);
    let addr: SocketAddr = args.value("--addr", "127.0.0.1:7000".parse().unwrap());
    let runtime = server::RuntimeOptions::from_args(&mut args);
    let ring = args.flag("--ring");
    args.finish();

    let mode = if ring { "buffer ring" } else { "owned buffers" };
    server::run(
        "echo_server",
        addr,
        &runtime,
        mode,
        move |_worker, listener| async move {
            if ring {
                // One ring per worker, shared by all its connections.
                let ring = BufRing::new(RING_ENTRIES, BUF_SIZE)?;
                server::accept_each(listener, |stream| echo_ring(stream, ring.clone())).await
            } else {
                server::accept_each(listener, echo).await
            }
        },
    );
}

/// Read, write back, repeat, with one buffer passed to the kernel and back.
async fn echo(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        // A read fills the buffer from its start and only ever extends its length: clear it.
        buf.clear();
        // Waiting for bytes with none owed back: a stopping server closes here.
        let read = pin!(stream.read(buf));
        let Some((read, back)) = shutdown::unless_stopped(true, read).await else {
            return Ok(());
        };
        if read? == 0 {
            return Ok(()); // the client closed
        }
        let (written, back) = stream.write_all(back).await;
        written?;
        buf = back;
    }
}

/// The same through a provided buffer ring: the kernel picks a buffer when data arrives.
async fn echo_ring(stream: TcpStream, ring: BufRing) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut incoming = stream.recv_stream(&ring);
    while let Some(Some(chunk)) = shutdown::unless_stopped(true, pin!(incoming.next())).await {
        let (written, chunk) = stream.write_all(chunk?).await;
        written?;
        drop(chunk); // back to the ring for the kernel's next receive
    }
    Ok(())
}
