//! Reporting a skipped test where `ci/test` sees it.
//!
//! libtest captures what a passing test prints, so an `eprintln!` saying "skipped" vanishes and
//! a skipped test counts as passed. [`skipped`] also appends the line to the file named by
//! `CORING_SKIP_LOG` (set by `ci/test`), which counts the lines per stage and lists them in its
//! summary.

use std::io::Write as _;

/// The environment variable naming the file skip lines are appended to.
pub const SKIP_LOG_ENV: &str = "CORING_SKIP_LOG";

/// Reports that `test` did not run its scenario, and why (a missing kernel feature, address
/// family or tool). The caller then returns.
pub fn skipped(test: &str, reason: &str) {
    let line = format!("SKIPPED {test}: {reason}");
    eprintln!("{line}");
    let Some(path) = std::env::var_os(SKIP_LOG_ENV) else {
        return;
    };
    // One write of a whole line with O_APPEND: lines of tests running in parallel do not mix.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
    if let Err(err) = written {
        eprintln!(
            "could not record the skip in {}: {err}",
            path.to_string_lossy()
        );
    }
}

/// Whether `test` is about io_uring itself and the runtime runs on epoll (`CORING_BACKEND=epoll`
/// or a kernel that refuses io_uring): then it is reported skipped, "io_uring only", and the
/// caller returns.
pub fn io_uring_only(test: &str) -> bool {
    let on_epoll = coring::Runtime::new().is_ok_and(|rt| rt.backend() == coring::Backend::Epoll);
    if on_epoll {
        skipped(test, "io_uring only");
    }
    on_epoll
}
