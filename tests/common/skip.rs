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
