//! Choosing the backend: io_uring when the kernel allows it, epoll when it refuses.
//!
//! In order: [`Builder::backend`](crate::Builder::backend) if called; else the environment
//! variable `CORING_BACKEND` (`io_uring` or `epoll`); else io_uring, falling back to epoll when
//! `io_uring_setup` fails with `EPERM` (seccomp, `kernel.io_uring_disabled`), `ENOSYS` (no
//! io_uring in this kernel or sandbox) or `ENOMEM` (locked-memory limit), or when the kernel's
//! io_uring lacks a feature coring requires. Forcing io_uring where it is refused gives the
//! error that says why and what to do, as before there was a fallback.
//!
//! # Why fall back at all, and why only then
//!
//! io_uring is often refused where coring would be deployed: Docker's default seccomp profile
//! answers `EPERM`, distributions ship `kernel.io_uring_disabled`, sandboxes answer `ENOSYS`
//! (hazard H16 in `docs/HAZARDS.md`). A program that works everywhere, slower where io_uring
//! is refused, is worth more there than one that stops with a good error message. But a
//! fallback must never hide a real fault: out of fds, or a ring option the user asked for
//! that this kernel lacks (`completion_batch`), would fail or mislead on epoll too, so those
//! stay errors ([`refused`]). And the choice is made once, when the runtime is built: a
//! runtime never changes backend, so an op never sees two.
//!
//! # Why the choice is per runtime
//!
//! Each runtime (each worker of a multi-worker runtime) builds its own driver, so two may
//! differ: a worker that hits the locked-memory limit after the others took their rings falls
//! back alone. Nothing relies on workers sharing a backend: a cross-worker wake goes by
//! `MSG_RING` only when both sides have a ring (`Driver::ring_fd`, `runtime/mod.rs`), and by
//! the target's eventfd otherwise. Tests use `CORING_BACKEND=epoll` to run the whole suite on
//! the fallback (`ci/test`).

use super::epoll::Epoll;
use super::uring::setup::RingConfig;
use super::uring::Uring;
use super::Driver;
use crate::counters::Counters;
use std::fmt;
use std::io;
use std::sync::Arc;

/// The environment variable that forces a backend when the `Builder` does not. Read when a
/// runtime is built, not cached: a test may set it for one runtime and clear it after.
pub const BACKEND_ENV: &str = "CORING_BACKEND";

/// Which kernel interface a runtime does its I/O through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// io_uring: operations are submitted to the kernel, which completes them (the default).
    /// Needs Linux 5.11 or newer with `IORING_FEAT_NODROP` and `IORING_FEAT_EXT_ARG`; the
    /// set-up flags it runs with are reported as a [`RingMode`](crate::runtime::RingMode).
    IoUring,
    /// epoll: operations run their syscalls when their fd is ready. The fallback where io_uring
    /// is forbidden or missing; every API works, the io_uring-only speed-ups degrade: buffer
    /// rings and fixed buffers become plain reads and writes, zero-copy sends plain sends, and
    /// file operations run on the blocking pool.
    Epoll,
}

impl Backend {
    /// The backend named by `CORING_BACKEND`, if it is set (an empty value counts as unset).
    ///
    /// # Errors
    ///
    /// If the variable holds anything but `io_uring` (or its aliases `iouring`, `uring`) or
    /// `epoll`, spelled exactly so (no blanks, lower case); the error quotes the value.
    pub fn from_env() -> io::Result<Option<Backend>> {
        match std::env::var(BACKEND_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(None),
            Ok(value) if value.is_empty() => Ok(None),
            Ok(value) => value.parse().map(Some),
            Err(std::env::VarError::NotUnicode(value)) => Err(invalid(&value.to_string_lossy())),
        }
    }
}

/// The error for a `CORING_BACKEND` value that names no backend. Quoted, so a stray blank or
/// newline in the variable shows.
fn invalid(value: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("coring: {BACKEND_ENV}={value:?} is not a backend; use io_uring or epoll"),
    )
}

/// The names `CORING_BACKEND` takes. Exact and lower case: a near miss (`EPOLL`, ` epoll`) is
/// an error rather than a guess, since silently running on the other backend would hide it.
impl std::str::FromStr for Backend {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Backend> {
        match s {
            "io_uring" | "iouring" | "uring" => Ok(Backend::IoUring),
            "epoll" => Ok(Backend::Epoll),
            other => Err(invalid(other)),
        }
    }
}

/// The same names `FromStr` takes, so a printed backend can be fed back through
/// `CORING_BACKEND` (tested below).
impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::IoUring => "io_uring",
            Backend::Epoll => "epoll",
        })
    }
}

/// Builds the driver `config` asks for, writing `counters`; see the module docs. A backend
/// asked for (by the builder or the environment) is never swapped for the other: its failure is
/// the error. Only the automatic choice falls back, and it records why (`fallback_reason`), so
/// a runtime that quietly runs on epoll can still say so.
pub(super) fn build(config: RingConfig, counters: Arc<Counters>) -> io::Result<Driver> {
    // An unreadable `CORING_BACKEND` is an error, not ignored: a typo in a CI matrix would
    // otherwise run the suite on the wrong backend and pass.
    let forced = match config.backend {
        Some(backend) => Some(backend),
        None => Backend::from_env()?,
    };
    match forced {
        Some(Backend::IoUring) => Uring::new(config, counters).map(Driver::Uring),
        Some(Backend::Epoll) => Epoll::new(None, counters).map(Driver::Epoll),
        None => match Uring::new(config, counters.clone()) {
            Ok(uring) => Ok(Driver::Uring(uring)),
            Err(err) if refused(&err) => {
                Epoll::new(Some(err.to_string()), counters).map(Driver::Epoll)
            }
            Err(err) => Err(err),
        },
    }
}

/// Whether io_uring's set-up failed because the kernel refuses or lacks it (fall back), rather
/// than for a reason epoll would share (out of fds) or an io_uring option the caller asked for.
///
/// By `ErrorKind`, which `explain_setup_error` and `check_features` keep from the errno:
/// `PermissionDenied` (`EPERM`, `EACCES`), `Unsupported` (`ENOSYS`, a missing feature),
/// `OutOfMemory` (`ENOMEM`: the locked-memory limit, which epoll does not need). The one
/// `Unsupported` that must not fall back, `completion_batch` on a kernel without
/// `MIN_TIMEOUT`, is told apart by its message: the user asked for an io_uring feature.
fn refused(err: &io::Error) -> bool {
    use io::ErrorKind::{OutOfMemory, PermissionDenied, Unsupported};
    matches!(err.kind(), PermissionDenied | Unsupported | OutOfMemory)
        && !err.to_string().contains("Builder::completion_batch")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for backend in [Backend::IoUring, Backend::Epoll] {
            assert_eq!(backend.to_string().parse::<Backend>().unwrap(), backend);
        }
        let err = "kqueue".parse::<Backend>().unwrap_err();
        assert!(
            err.to_string().contains("CORING_BACKEND=\"kqueue\""),
            "{err}"
        );
    }

    /// A value that differs from a backend's name only by blanks or case is refused, with the
    /// value quoted: unquoted, `CORING_BACKEND= epoll is not a backend` hides what is wrong.
    #[test]
    fn a_near_miss_is_refused_with_the_value_quoted() {
        for (value, shown) in [
            (" epoll", "\" epoll\""),
            ("EPOLL", "\"EPOLL\""),
            ("epoll\n", "\"epoll\\n\""),
        ] {
            let err = value.parse::<Backend>().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(
                err.to_string().contains(&format!("CORING_BACKEND={shown}")),
                "{err}"
            );
        }
    }

    /// `EMFILE` stays an error: epoll would run out of fds too, and falling back would only
    /// hide the cause behind a slower runtime that fails a moment later.
    #[test]
    fn only_refusals_fall_back() {
        let errno =
            |e| super::super::uring::setup::explain_setup_error(io::Error::from_raw_os_error(e));
        assert!(refused(&errno(libc::EPERM)));
        assert!(refused(&errno(libc::ENOSYS)));
        assert!(refused(&errno(libc::ENOMEM)));
        assert!(!refused(&errno(libc::EMFILE)));
    }
}
