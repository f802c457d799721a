//! # coring: a thread-per-core async runtime on io_uring
//!
//! ```text
//!  user code: async fn ...  ──spawn/block_on──▶  runtime (one per thread / core; workers)
//!                                                  │ loop: run ready tasks (budget)
//!                                                  │       fire due timers
//!                                                  │       submit + park on the ring (timeout = next deadline)
//!                                                  │       dispatch completions → wake tasks
//!                                                  │       take in wakes from other threads
//!         ┌──────────────┬──────────────┬──────────┴───────────┬──────────────────┐
//!      executor        time           task                  driver              fd, sys, counters
//!   (tasks, queue,  (sleep, timeout, (spawn, yield_now,  (io_uring or epoll;   (SharedFd; raw
//!    JoinHandle,     interval, timer  coop budget,        slab of op slots,     OS calls; the
//!    remote wakes)   wheel)           spawn_blocking)     Op<T>, MultiOp<T>,    counters behind
//!                                                         cancel, shutdown)     runtime metrics)
//!                                                            ▲
//!                                                            op (one opcode per file; the accept
//!                                                            and ring-receive loops; loss tracking)
//!                                                            ▲
//!         ┌──────────┬──────────┬──────────┬──────────┬──────┴───┬──────────┬──────────┐
//!        net         fs       signal       io        buf        sync      compat    (macros:
//!   (TCP, UDP,  (File, Open- (signalfd  (owned-    (IoBuf,    (mpsc,    (tokio-io,  main, test)
//!    Unix,       Options,     on the     buffer     Slice,     oneshot)  futures-io,
//!    lookup_     metadata)    ring)      traits,    FixedBuf-            hyper)
//!    host)                               BufReader) Pool, BufRing)
//! ```
//!
//! Arrows go one way: the executor knows nothing of io_uring, the driver nothing of tasks or
//! timers; `runtime` is the only glue. `docs/ARCHITECTURE.md` in the repository walks through
//! the layers and an operation's path from future to submission to completion to waker.
//!
//! ## Where io_uring is forbidden
//!
//! The driver has a second backend, epoll, behind the same `Op` futures: where the kernel
//! refuses io_uring (Docker's default seccomp profile, `kernel.io_uring_disabled`, no io_uring
//! in the kernel or one older than 5.11, a locked-memory limit too low for the ring) the runtime
//! runs on it instead, and every API keeps its signature and meaning.
//! [`Runtime::backend`] says which one runs, [`Runtime::fallback_reason`] why;
//! [`Builder::backend`] or `CORING_BACKEND=io_uring|epoll` forces one ([`Backend`]).
//!
//! ## The ownership rule
//!
//! The kernel reads and writes the memory of an operation until its completion arrives, even if
//! the future that started it was dropped. So every buffer, fd and socket address handed to the
//! kernel is *owned* by the in-flight operation: reads and writes take buffers by value and give
//! them back with the result ([`buf::BufResult`]). A dropped operation's data is kept by the
//! runtime until the kernel is done with it; a dropped runtime cancels every operation and
//! waits for them to end, and leaks (never frees) the memory of any the kernel has not finished
//! within 10 seconds.
//!
//! ## Example
//!
//! The seed's two coroutines sleeping at the same time on one loop:
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! coring::block_on(async {
//!     let start = Instant::now();
//!     let hello = |n: u32, ms: u64| async move {
//!         coring::time::sleep(Duration::from_millis(ms)).await;
//!         (n, Instant::now())
//!     };
//!     let both = [coring::spawn(hello(1, 100)), coring::spawn(hello(2, 50))];
//!     let both = coring::task::join_all(both).await;
//!     let both: Vec<_> = both.into_iter().map(Result::unwrap).collect();
//!     let ((first, woke_1), (second, woke_2)) = (both[0], both[1]);
//!     assert_eq!((first, second), (1, 2));
//!     // The second task, spawned after the first with a shorter sleep, woke first: they slept
//!     // at the same time (one after the other, it would have woken 50 ms after the first).
//!     assert!(woke_2 <= woke_1 && woke_1 >= start + Duration::from_millis(100));
//! });
//! ```

//!
//! ## `#[coring::main]` and `#[coring::test]`
//!
//! The attributes turn an `async fn` into a plain one that builds a runtime with [`Builder`] and
//! runs the body on it (the expansion is what one would write by hand):
//!
//! ```no_run
//! #[coring::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = coring::net::TcpListener::bind("127.0.0.1:8080")?;
//!     let (_stream, peer) = listener.accept().await?;
//!     println!("{peer} connected");
//!     Ok(())
//! }
//! ```
//!
//! `#[coring::main(workers = 4)]` starts four worker threads, one ring each, and runs the body
//! on **every** worker, as [`MultiRuntime::run_on_all`](runtime::MultiRuntime::run_on_all)
//! does: each worker binds its own listener (with `SO_REUSEPORT`, see
//! [`net::ListenOptions`]) and serves its own connections. `main` then returns `()` or a
//! `Result` (the first worker's error, see [`runtime::MainOutput`]). `#[coring::test]` is
//! `#[test]` plus the same, for async tests. A non-async function, arguments or an unknown
//! option are compile errors that say what to change.

#![deny(unsafe_op_in_unsafe_fn)]

#[macro_use]
mod error_impls;
pub mod buf;
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
pub mod compat;
mod driver;
#[cfg(feature = "fault-injection")]
pub use driver::faults;
mod counters;
mod executor;
mod fd;
pub mod fs;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz_support;
pub mod io;
pub mod net;
mod op;
pub mod runtime;
pub mod signal;
pub mod sync;
mod sys;
pub mod task;
#[cfg(test)]
mod test_support;
mod thread_slot;
pub mod time;

/// Runs an `async fn main` on a coring runtime; see the [crate docs](crate#coringmain-and-coringtest).
pub use coring_macros::main;
/// Runs an `async` test on a fresh coring runtime; see the [crate docs](crate#coringmain-and-coringtest).
pub use coring_macros::test;
pub use driver::Backend;
pub use runtime::{block_on, Builder, Runtime};
pub use task::spawn;
