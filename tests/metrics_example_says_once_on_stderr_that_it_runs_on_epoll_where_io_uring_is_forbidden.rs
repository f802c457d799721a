//! Where io_uring is forbidden, the metrics example runs its load on the epoll fallback, prints
//! `backend: Epoll` in its metrics, and says once on stderr that it runs on epoll and why, as
//! every example does (issue 21).

#![cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]

mod common;

use common::examples::build_example;
use common::seccomp::forbid_io_uring;
use common::Watchdog;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

#[test]
fn metrics_example_says_once_on_stderr_that_it_runs_on_epoll_where_io_uring_is_forbidden() {
    let _watchdog = Watchdog::new(600, "metrics example under a seccomp filter");
    let mut command = Command::new(build_example("metrics"));
    command
        .args(["--connections", "2", "--rounds", "20"])
        .env_remove("CORING_BACKEND")
        .stdin(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec; `forbid_io_uring` makes two
    // prctl calls on a stack-allocated filter: no allocation, no lock, no panic.
    unsafe {
        command.pre_exec(|| forbid_io_uring(libc::EPERM));
    }
    let output = command.output().expect("run the metrics example");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("backend: Epoll"), "{stdout}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("epoll")).collect();
    assert_eq!(
        said.len(),
        1,
        "want one stderr line naming epoll:\n{stderr}"
    );
    assert!(
        said[0].contains("EPERM"),
        "the line should say why: {}",
        said[0]
    );
}
