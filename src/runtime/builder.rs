//! `Builder`: runtime settings.

use super::{MultiRuntime, Runtime};
use crate::driver::RingConfig;
use std::io;
use std::time::Duration;

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
        }
    }

    /// Submission queue size (rounded up to a power of two; at least 2). Larger batches per
    /// `io_uring_enter`; a full queue is flushed early, never an error.
    pub fn entries(mut self, entries: u32) -> Self {
        self.entries = entries;
        self
    }

    /// Asks for a kernel thread that polls the submission queue (`SQPOLL`), sleeping after
    /// `idle` without work. Saves the submit syscall at the cost of a busy kernel thread; only
    /// worth it with a core to spare.
    pub fn sqpoll(mut self, idle: Duration) -> Self {
        self.sqpoll_idle = Some(idle);
        self
    }

    /// Number of worker threads for [`build_multi`](Self::build_multi) (default: the available
    /// cores). [`build`](Self::build) always makes one runtime on the calling thread.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.max(1));
        self
    }

    /// Pins worker N to core N (modulo the core count). Off by default.
    pub fn pin_cores(mut self, pin: bool) -> Self {
        self.pin_cores = pin;
        self
    }

    pub(crate) fn pins_cores(&self) -> bool {
        self.pin_cores
    }

    /// Whether wake-ups from other workers travel ring to ring with `MSG_RING` (the default)
    /// rather than through an eventfd write. Threads without a ring always use the eventfd.
    pub fn msg_ring(mut self, enabled: bool) -> Self {
        self.msg_ring = enabled;
        self
    }

    /// Starts a thread-per-core runtime of [`workers`](Self::workers) threads, each with its own
    /// ring, run queue and timers.
    ///
    /// # Errors
    ///
    /// If a worker's ring cannot be set up (see [`Runtime::new`]) or its thread not spawned.
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
    /// If io_uring cannot be set up (see [`Runtime::new`]).
    pub fn build(&self) -> io::Result<Runtime> {
        let config = RingConfig {
            entries: self.entries,
            sqpoll_idle_ms: self
                .sqpoll_idle
                .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
        };
        Runtime::with_config(config, self.msg_ring)
    }
}
