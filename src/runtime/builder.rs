//! `Builder`: runtime settings.

use super::Runtime;
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

    /// Builds a runtime on this thread.
    ///
    /// # Errors
    ///
    /// If io_uring cannot be set up (see [`Runtime::new`]).
    pub fn build(&self) -> io::Result<Runtime> {
        Runtime::with_config(RingConfig {
            entries: self.entries,
            sqpoll_idle_ms: self
                .sqpoll_idle
                .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
        })
    }
}
