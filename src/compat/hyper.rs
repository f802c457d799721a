//! hyper 1.x on coring (feature `hyper`): [`HyperIo`] (hyper's `rt::Read` and `rt::Write`),
//! [`HyperExecutor`] (`rt::Executor`) and [`HyperTimer`] (`rt::Timer`).
//!
//! hyper talks to its runtime through these three traits only, so no tokio is involved: a
//! connection's bytes go from the ring into the adapter's buffer and from there into hyper's
//! (one copy), and hyper's responses are gathered into the adapter's buffer (one copy, hyper's
//! header and body chunks together, since the adapter takes vectored writes) and sent.
//!
//! ```no_run
//! use bytes::Bytes;
//! use coring::compat::hyper::{HyperIo, HyperTimer};
//! use http_body_util::Full;
//! use hyper::{server::conn::http1, service::service_fn, Request, Response};
//! use std::convert::Infallible;
//!
//! async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from_static(b"Hello, world!"))))
//! }
//!
//! #[coring::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = coring::net::TcpListener::bind("127.0.0.1:3000")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         coring::spawn(async move {
//!             let connection = http1::Builder::new()
//!                 .timer(HyperTimer::new())
//!                 .serve_connection(HyperIo::new(stream), service_fn(hello));
//!             if let Err(err) = connection.await {
//!                 eprintln!("connection: {err}");
//!             }
//!         });
//!     }
//! }
//! ```

use super::stream_io::PollIo;
use super::RingStream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A coring stream as hyper's `rt::Read + rt::Write`. The
/// [contract](super#the-contract-of-the-io-adapters) is that of every adapter here: it owns
/// its buffers and its operations in flight, so nothing is lost when hyper drops a future.
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: PollIo<T>,
}

adapter_methods!(HyperIo);

impl<T> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_into_cursor!(self, cx, buf)
    }
}

impl<T> hyper::rt::Write for HyperIo<T> {
    poll_write_methods!();

    /// Vectored writes are gathered in one copy, so hyper need not flatten them first.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().inner.poll_shutdown(cx)
    }
}

/// hyper's `rt::Executor`: runs the futures hyper spawns (HTTP/2 streams, client connection
/// pools) as tasks on the current worker with [`coring::spawn`](crate::spawn), so they need
/// not be `Send`.
///
/// # Panics
///
/// `execute` panics outside a coring runtime, as `coring::spawn` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperExecutor;

impl HyperExecutor {
    /// The executor (it holds nothing: every worker spawns on itself).
    pub fn new() -> Self {
        HyperExecutor
    }
}

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper watches its tasks through its own channels.
        drop(crate::spawn(future));
    }
}

/// hyper's `rt::Timer` on coring's timer store: header-read timeouts and keep-alive timers
/// cost no kernel timer each. `Send + Sync`, as `http1::Builder::timer` requires; its sleeps
/// are coring [`Sleep`](crate::time::Sleep)s, which register with the timers of the worker
/// that polls them.
///
/// ```
/// use coring::compat::hyper::HyperTimer;
/// use hyper::rt::Timer;
/// use std::time::Duration;
///
/// coring::block_on(async {
///     let start = std::time::Instant::now();
///     HyperTimer::new().sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperTimer;

impl HyperTimer {
    /// The timer (it holds nothing: sleeps use the timers of the worker that polls them).
    pub fn new() -> Self {
        HyperTimer
    }
}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep_until(deadline))
    }

    /// Moves the deadline of a sleep this timer made in place, without a new allocation.
    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<crate::time::Sleep>() {
            Some(mut ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

impl hyper::rt::Sleep for crate::time::Sleep {}
