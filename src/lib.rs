//! # coring: a thread-per-core async runtime on io_uring
//!
//! ```text
//!  user code: async fn ...  ──spawn/block_on──▶  runtime (one per thread / core)
//!                                                  │ loop: run ready tasks (budget)
//!                                                  │       fire due timers
//!                                                  │       submit + park on the ring (timeout = next deadline)
//!                                                  │       dispatch completions → wake tasks
//!                                                  │       take in wakes from other threads
//!         ┌──────────────┬─────────────────────────┼──────────────────┐
//!      executor        time                     driver              net / buf / io
//!   (tasks, queue,  (sleep, timeout,     (io_uring SQ/CQ, slab of   (TcpListener, TcpStream,
//!    JoinHandle,     interval, timer      op slots, Op<T> future,    UdpSocket, owned buffers)
//!    remote wakes)   store)               cancellation, shutdown)
//! ```
//!
//! Arrows go one way: the executor knows nothing of io_uring, the driver nothing of tasks or
//! timers; `runtime` is the only glue.
//!
//! ## The ownership rule
//!
//! The kernel reads and writes the memory of an operation until its completion arrives, even if
//! the future that started it was dropped. So every buffer, fd and socket address handed to the
//! kernel is *owned* by the in-flight operation: reads and writes take buffers by value and give
//! them back with the result ([`buf::BufResult`]). A dropped operation's data is kept by the
//! runtime until the kernel is done with it; a dropped runtime waits for every operation to end.
//!
//! ## Example
//!
//! The seed's two coroutines sleeping one second at the same time on one loop:
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! coring::block_on(async {
//!     let start = Instant::now();
//!     let hello = |n: u32| async move {
//!         coring::time::sleep(Duration::from_millis(100)).await;
//!         n
//!     };
//!     let both = coring::task::join_all([coring::spawn(hello(1)), coring::spawn(hello(2))]).await;
//!     assert_eq!(both.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2]);
//!     assert!(start.elapsed() < Duration::from_millis(190), "they slept concurrently");
//! });
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

pub mod buf;
mod driver;
#[cfg(feature = "fault-injection")]
pub use driver::faults;
mod executor;
mod fd;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz_support;
pub mod io;
pub mod net;
mod op;
pub mod runtime;
pub mod sync;
mod sys;
pub mod task;
pub mod time;

pub use runtime::{block_on, Builder, Runtime};
pub use task::spawn;
