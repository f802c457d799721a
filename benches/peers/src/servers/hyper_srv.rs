//! hyper 1.x on two runtimes, the same app (issue 20): `HTTP/1.1` keep-alive, `Hello, world!`,
//! a 10 s header-read timeout, `TCP_NODELAY`. `coring-hyper` serves it through
//! `coring::compat::hyper` (`HyperIo`, `HyperTimer`) on one coring runtime; `tokio-hyper` through
//! hyper-util's `TokioIo`/`TokioTimer` on tokio's current-thread runtime, each connection a
//! `spawn_local` task as on coring. Only the http case: hyper has no echo.

use super::{plain_control_thread, ready, ENTRIES};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::time::Duration;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, world!",
    ))))
}

/// hyper on coring, one runtime on this thread.
pub fn run_coring() {
    use coring::compat::hyper::{HyperIo, HyperTimer};
    let runtime = coring::Builder::new()
        .entries(ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("coring runtime: {err}"));
    let (listener, port) = crate::conn::coring_listener();
    plain_control_thread();
    ready(port, &format!("hyper on coring {}", runtime.ring_mode()));
    runtime.block_on(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("coring accept: {err}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            coring::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(HyperTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(HyperIo::new(stream), service_fn(hello))
                    .await;
                super::closed();
            });
        }
    });
}

/// hyper on tokio's current-thread runtime.
pub fn run_tokio() {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = super::std_listener();
    let port = listener.local_addr().expect("local_addr").port();
    plain_control_thread();
    ready(port, "hyper on tokio-current-thread");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("tokio accept: {err}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(async move {
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
                super::closed();
            });
        }
    });
}
