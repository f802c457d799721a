//! `fork()`: a forked child must never touch its parent's rings.
//!
//! The ring's submission and completion queues are shared mappings, so after `fork` a child
//! that pushed an entry (a cancel or a close, say, when it dropped its copy of a runtime or a
//! socket) would move the tail of the *parent's* queue, and the parent's next submit would run
//! the child's entries: its reads cancelled, its listeners closed. Two guards:
//!
//! * the mappings are marked `MADV_DONTFORK` (as liburing does), so a child does not even have
//!   them: a stray access faults in the child instead of corrupting the parent;
//! * a `pthread_atfork` child handler counts forks, and a driver made before the latest fork
//!   treats every ring access as foreign: pushes and waits fail with a clear error, shutdown
//!   skips the ring (the kernel only ever writes the parent's memory, so the child's copies of
//!   op data are freed as plain memory), and nothing reaches the parent's queues.
//!
//! Spawning processes is unaffected: `posix_spawn` (which `std::process::Command` uses where it
//! can) runs no fork handlers, and where `Command` does fork, the handler only bumps a count in
//! a child that runs no coring code before `exec`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Forks this process went through since coring started watching (counted in each child).
/// A count, not a flag, so a grandchild is told apart from a child that built its own
/// runtime after the fork: each driver compares with the count it was built under.
static FORKS: AtomicU64 = AtomicU64::new(0);
/// Installs the handler once per process: `pthread_atfork` handlers are never removed, and
/// a second would count every fork twice.
static WATCH: Once = Once::new();

/// The `pthread_atfork` child handler. Runs in the child before `fork` returns there, when
/// only the forking thread exists, so it must be async-signal-safe.
extern "C" fn count_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Starts watching for forks (once per process) and returns the current count, for
/// [`forked_since`] to compare with.
pub(crate) fn generation() -> u64 {
    WATCH.call_once(|| {
        // SAFETY: the handler is a plain `extern "C" fn` that stays valid for the process's
        // life and does only an async-signal-safe atomic add.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(count_fork_in_child)) };
        if rc != 0 {
            // Only ENOMEM is possible; the MADV_DONTFORK mappings still keep a child off the
            // parent's queues (it would fault instead of getting a clear error).
            eprintln!("coring: pthread_atfork failed ({rc}); a forked child is not detected");
        }
    });
    FORKS.load(Ordering::Relaxed)
}

/// Whether this process is a fork child of the one that read `generation`: one relaxed load,
/// cheap enough for every push. Relaxed suffices: the child's count is written by the handler
/// on the child's only thread before any of the child's own code runs.
pub(crate) fn forked_since(generation: u64) -> bool {
    FORKS.load(Ordering::Relaxed) != generation
}

/// The error for using a ring (or a multi-worker runtime) inherited through `fork`.
pub(crate) fn inherited_error() -> io::Error {
    io::Error::other(
        "coring: this runtime was made by the parent process before fork(); a forked child \
         cannot use its ring (it would act on the parent's queues). Build a new runtime in the \
         child",
    )
}
