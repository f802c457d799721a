//! `Builder`: runtime settings.

use super::{MultiRuntime, Runtime};
use crate::buf::pool;
use crate::driver::{Backend, CompletionBatch, RingConfig};
use std::io;
use std::time::Duration;

/// The longest `max_delay` [`Builder::completion_batch`] accepts: beyond it a lone completion
/// would wait so long that the setting is surely a mistake (`Duration::MAX` meant 71 minutes).
pub const MAX_BATCH_DELAY: Duration = Duration::from_secs(10);

/// Settings for a [`Runtime`].
///
/// ```
/// let runtime = coring::Builder::new().entries(1024).build()?;
/// runtime.block_on(async {});
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    entries: u32,
    sqpoll_idle: Option<Duration>,
    workers: Option<usize>,
    pin_cores: bool,
    msg_ring: bool,
    batch: Option<(u32, Duration)>,
    backend: Option<Backend>,
    read_buffers: (u16, usize),
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Default settings: a 256-entry submission queue (the completion queue is 4 times larger).
    pub fn new() -> Self {
        Builder {
            entries: 256,
            sqpoll_idle: None,
            workers: None,
            pin_cores: false,
            msg_ring: true,
            batch: None,
            backend: None,
            read_buffers: (pool::DEFAULT_BUFFERS, pool::DEFAULT_BUFFER_SIZE),
        }
    }

    /// The runtime's read pool: each provided buffer ring holds `count` buffers of `size`
    /// bytes (default 256 × 16 KiB; more rings are added under load, and when readers that
    /// stopped reading hold a ring's buffers, up to 64 rings). A
    /// [`BufReader`](crate::io::BufReader) over a socket reads through it with multishot
    /// receives, so an idle connection holds no read buffer. `count` 0 turns the pool off:
    /// readers then read plainly into their own buffer. The first ring is registered when the
    /// first reader needs it; see [`Runtime::read_path`].
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) fails with `InvalidInput` unless `count` is 0 or a power of two up
    /// to 32768 and `size` is between 1 byte and 4 GiB.
    ///
    /// ```
    /// let runtime = coring::Builder::new().read_buffers(1024, 16 * 1024).build()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read_buffers(mut self, count: u16, size: usize) -> Self {
        self.read_buffers = (count, size);
        self
    }

    fn read_buffers_config(&self) -> io::Result<(u16, usize)> {
        let (count, size) = self.read_buffers;
        if count == 0 {
            return Ok((0, size));
        }
        if !count.is_power_of_two() || count > 32768 || size == 0 || size > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "coring: Builder::read_buffers({count}, {size}): the count must be 0 or a \
                     power of two up to 32768, the size between 1 byte and 4 GiB"
                ),
            ));
        }
        Ok((count, size))
    }

    /// Runs on `backend` whatever the kernel allows, rather than choosing: by default io_uring
    /// is used where the kernel allows it and epoll where it refuses io_uring (`EPERM`,
    /// `ENOSYS`, `ENOMEM` or a missing feature), unless the environment variable
    /// `CORING_BACKEND` (`io_uring` or `epoll`) says otherwise. Forcing
    /// [`Backend::IoUring`] where io_uring is refused makes `build` fail with an error that
    /// says why and what to do. [`Runtime::backend`] tells which one runs.
    ///
    /// ```
    /// use coring::{Backend, Builder};
    /// let runtime = Builder::new().backend(Backend::Epoll).build()?;
    /// assert_eq!(runtime.backend(), Backend::Epoll);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Submission queue size (rounded up to a power of two; at least 2). Larger batches per
    /// `io_uring_enter`; a full queue is flushed early, never an error.
    pub fn entries(mut self, entries: u32) -> Self {
        self.entries = entries;
        self
    }

    /// Asks for a kernel thread that polls the submission queue (`SQPOLL`), sleeping after
    /// `idle` without work. Saves the submit syscall at the cost of a busy kernel thread; only
    /// worth it with a core to spare. Such a runtime wakes tasks of other runtimes through
    /// their eventfd, not with `MSG_RING`: its kernel thread would send the message after the
    /// waking code moved on, and a refusal would be seen too late to fall back.
    pub fn sqpoll(mut self, idle: Duration) -> Self {
        self.sqpoll_idle = Some(idle);
        self
    }

    /// Number of worker threads for [`build_multi`](Self::build_multi) (default: the available
    /// cores; 0 counts as 1, not as the default). [`build`](Self::build) always makes one
    /// runtime on the calling thread.
    ///
    /// A server usually runs the same accept loop on every worker, each with its own listener
    /// on the same port (`SO_REUSEPORT` spreads the connections):
    ///
    /// ```
    /// use coring::net::{ListenOptions, TcpListener};
    ///
    /// let runtime = coring::Builder::new().workers(2).build_multi()?;
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// // The closure gets the worker's index, and runs on that worker.
    /// let bound = runtime.run_on_all(move |worker| async move {
    ///     let options = ListenOptions::new().reuse_port(true);
    ///     let listener = TcpListener::bind_with(("127.0.0.1", port), &options)?;
    ///     // A real server loops here, one task per connection, all on this worker:
    ///     // while let Ok((conn, _)) = listener.accept().await { coring::spawn(serve(conn)); }
    ///     std::io::Result::Ok((worker, listener.local_addr()?.port()))
    /// });
    /// let bound: Vec<_> = bound.into_iter().collect::<Result<_, _>>()?;
    /// assert_eq!(bound, [(0, port), (1, port)]);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.max(1));
        self
    }

    /// Pins each worker of [`build_multi`](Self::build_multi) to one CPU. Off by default.
    ///
    /// Worker N goes to the N-th CPU the calling thread may run on: its affinity mask, which
    /// `taskset`, `sched_setaffinity` and cpusets set, so a process started with `taskset -c 2,3`
    /// puts worker 0 on CPU 2 and worker 1 on CPU 3. With more workers than allowed CPUs the
    /// count wraps around (worker N on the `N % allowed`-th), so several workers share a CPU and
    /// take turns on it. A worker that cannot be pinned says so on stderr and runs unpinned.
    pub fn pin_cores(mut self, pin: bool) -> Self {
        self.pin_cores = pin;
        self
    }

    fn completion_batch_config(&self) -> io::Result<Option<CompletionBatch>> {
        let Some((wait_for, max_delay)) = self.batch else {
            return Ok(None);
        };
        if wait_for <= 1 {
            return Ok(None);
        }
        if max_delay.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "coring: Builder::completion_batch needs a max_delay above zero (a wait for \
                 several completions with no time bound can hold a lone one forever)",
            ));
        }
        if max_delay > MAX_BATCH_DELAY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "coring: Builder::completion_batch got a max_delay of {max_delay:?}, above \
                     the limit of {MAX_BATCH_DELAY:?} (every lone completion may wait that long; \
                     tens of microseconds is the useful range)"
                ),
            ));
        }
        // Rounded up, so a sub-microsecond delay still bounds the wait. Fits: at most 10 s.
        let micros = max_delay.as_nanos().div_ceil(1000);
        Ok(Some(CompletionBatch {
            wait_for,
            max_delay_us: u32::try_from(micros).unwrap_or(u32::MAX),
        }))
    }

    pub(crate) fn pins_cores(&self) -> bool {
        self.pin_cores
    }

    /// Whether wake-ups from other workers travel ring to ring with `MSG_RING` (the default)
    /// rather than through an eventfd write. Threads without a ring, and runtimes with
    /// [`sqpoll`](Self::sqpoll), always use the eventfd.
    pub fn msg_ring(mut self, enabled: bool) -> Self {
        self.msg_ring = enabled;
        self
    }

    /// Batches completions when the runtime waits for the kernel: a wait returns once
    /// `wait_for` completions are ready, or `max_delay` after it began if at least one is
    /// (the first one after that if none had come by then). Off by default.
    ///
    /// A busy server then takes many completions per `io_uring_enter` instead of one or two
    /// (measured on an HTTP keep-alive benchmark with `(32, 50 µs)`: 0.55 enters per request
    /// became 0.07, and server CPU per request fell by about 9%). The price is latency: a
    /// completion that comes within `max_delay` of a wait's start may be held until `max_delay`
    /// after that start. That includes the completion of an operation the wait itself
    /// submitted, such as a send that left at once: the bytes go out when submitted, but the task
    /// learns of it only when the wait ends. So a task that awaits a write and then a read waits
    /// up to `max_delay` for each: a single connection in request/response ping-pong gains up to
    /// 2 × `max_delay` per exchange (measured: about 190 ms per exchange at 100 ms). A
    /// completion on an idle runtime is not held (its wait began long before), and timers are
    /// never held: a wait does not outlast the next timer's deadline. Tens of microseconds is the useful range, and
    /// `wait_for` about the number of connections that are usually active (a larger one makes
    /// every wait last the full `max_delay`).
    ///
    /// Needs Linux 6.12 (`IORING_FEAT_MIN_TIMEOUT`); on an older kernel [`build`](Self::build)
    /// fails with [`Unsupported`](io::ErrorKind::Unsupported) rather than let waits stall.
    /// `wait_for` of 0 or 1 turns batching off. A zero `max_delay` with `wait_for` above 1 makes
    /// `build` fail with [`InvalidInput`](io::ErrorKind::InvalidInput): a wait with no bound
    /// could hold a lone completion forever. So does a `max_delay` above [`MAX_BATCH_DELAY`]
    /// (10 s).
    ///
    /// Shutdown does not batch: dropping the runtime with ops in flight waits only for their
    /// cancellations.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runtime = coring::Builder::new()
    ///     .completion_batch(32, Duration::from_micros(50))
    ///     .build()?;
    /// runtime.block_on(async { coring::time::sleep(Duration::from_millis(1)).await });
    /// # std::io::Result::Ok(())
    /// ```
    pub fn completion_batch(mut self, wait_for: u32, max_delay: Duration) -> Self {
        self.batch = Some((wait_for, max_delay));
        self
    }

    /// Starts a thread-per-core runtime of [`workers`](Self::workers) threads, each with its own
    /// ring, run queue and timers.
    ///
    /// # Errors
    ///
    /// If a worker's runtime cannot be set up (see [`Runtime::new`]; io_uring refused falls
    /// back to epoll unless forced), a setting is invalid (as for [`build`](Self::build)), or a
    /// worker's thread cannot be spawned.
    pub fn build_multi(&self) -> io::Result<MultiRuntime> {
        let count = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        MultiRuntime::start(self, count)
    }

    /// Builds a runtime on this thread.
    ///
    /// # Errors
    ///
    /// If the runtime cannot be set up (see [`Runtime::new`]; io_uring refused falls back to
    /// epoll unless forced), or a setting is invalid
    /// ([`read_buffers`](Self::read_buffers), [`completion_batch`](Self::completion_batch)).
    pub fn build(&self) -> io::Result<Runtime> {
        let config = RingConfig {
            backend: self.backend,
            entries: self.entries,
            sqpoll_idle_ms: self
                .sqpoll_idle
                .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            batch: self.completion_batch_config()?,
        };
        Runtime::with_config(config, self.msg_ring, self.read_buffers_config()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(wait_for: u32, max_delay: Duration) -> io::Result<Option<CompletionBatch>> {
        Builder::new()
            .completion_batch(wait_for, max_delay)
            .completion_batch_config()
    }

    #[test]
    fn completion_batch_is_off_unless_asked_for() {
        assert_eq!(Builder::new().completion_batch_config().unwrap(), None);
        assert_eq!(batch_of(1, Duration::from_micros(50)).unwrap(), None);
        assert_eq!(batch_of(0, Duration::ZERO).unwrap(), None);
    }

    #[test]
    fn completion_batch_without_a_delay_is_refused() {
        let err = batch_of(8, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("max_delay"), "{err}");
    }

    #[test]
    fn completion_batch_delay_rounds_up_to_whole_microseconds() {
        let batch = |d| batch_of(16, d).unwrap().unwrap().max_delay_us;
        assert_eq!(batch(Duration::from_nanos(1)), 1);
        assert_eq!(batch(Duration::from_nanos(1500)), 2);
        assert_eq!(batch(Duration::from_micros(50)), 50);
        assert_eq!(batch(MAX_BATCH_DELAY), 10_000_000);
    }

    #[test]
    fn completion_batch_refuses_absurd_delays() {
        for delay in [MAX_BATCH_DELAY + Duration::from_nanos(1), Duration::MAX] {
            let err = batch_of(16, delay).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("max_delay"), "{err}");
        }
    }
}
