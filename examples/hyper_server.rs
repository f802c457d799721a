//! hyper 1.x serving HTTP/1.1 keep-alive `Hello, world!` on coring (feature `hyper`).
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server -- [--addr 127.0.0.1:8080] [--workers N]
//! curl http://127.0.0.1:8080/
//! wrk -t1 -c50 -d3s http://127.0.0.1:8080/
//! ```
//!
//! hyper runs on coring through `coring::compat::hyper`: `HyperIo` carries a connection's
//! bytes over the ring, `HyperTimer` gives hyper its timers (here the 10 s header-read
//! timeout, against slowloris clients). With `--workers N`, N worker threads each bind their
//! own listener on the address (`SO_REUSEPORT`) and serve the connections the kernel gives
//! them, as the hand-written `http_server` example does. No tokio is involved.

#[path = "common/args.rs"]
mod args;
#[path = "common/server.rs"]
mod server;
#[path = "common/shutdown.rs"]
mod shutdown;

use bytes::Bytes;
use coring::compat::hyper::{HyperIo, HyperTimer};
use coring::net::TcpStream;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

const USAGE: &str = "usage: hyper_server [--addr 127.0.0.1:8080] [--workers N] \
                     [--completion-batch N,MICROS]";

fn main() {
    let mut args = args::Args::from_env(USAGE);
    let addr: SocketAddr = args.value("--addr", "127.0.0.1:8080".parse().unwrap());
    let runtime = server::RuntimeOptions::from_args(&mut args);
    args.finish();
    server::run(
        "hyper_server",
        addr,
        &runtime,
        "hyper http1 keep-alive",
        |_, listener| server::accept_each(listener, connection),
    );
}

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, world!",
    ))))
}

async fn connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let served = http1::Builder::new()
        .timer(HyperTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(HyperIo::new(stream), service_fn(hello))
        .await;
    match served {
        // A client that hangs up mid-request is its own business.
        Err(err) if err.is_incomplete_message() => Ok(()),
        other => other.map_err(io::Error::other),
    }
}
