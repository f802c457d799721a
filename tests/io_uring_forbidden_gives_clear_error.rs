//! When io_uring is forbidden or missing and forced (`CORING_BACKEND=io_uring`), `Runtime::new()`
//! returns an `io::Error` that names the cause and what to do, and `block_on` panics with that
//! same message (DESIGN.md invariant 8, reliability.md H16). Not forced, the runtime falls back
//! to epoll and reports that same message as its `fallback_reason`.
//!
//! Each test re-executes this test binary as a child process (`--exact <test> --nocapture`, with
//! `CORING_SECCOMP_CHILD` set). The child installs a seccomp filter that makes `io_uring_setup`
//! fail with a chosen errno — EPERM as under Docker's default profile or
//! `kernel.io_uring_disabled`, ENOSYS as on a kernel built without io_uring — and then builds a
//! runtime. The filter cannot be removed, so it must never touch the parent test process.

// The filter checks the syscall ABI; the architectures below are the ones whose AUDIT_ARCH we know.
#![cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]

mod common;

use common::process::run_child;
use common::seccomp::forbid_io_uring;
use std::io;
use std::time::Duration;

/// Environment variable telling a re-executed test binary that it is the child, and which errno
/// its seccomp filter should return for `io_uring_setup`.
const CHILD_ENV: &str = "CORING_SECCOMP_CHILD";
/// Printed by the child when every assertion passed, so the parent can tell a child that ran the
/// test from one that filtered it out (libtest exits 0 when no test matches).
const CHILD_OK: &str = "CORING_SECCOMP_CHILD_OK";
/// A child that takes longer than this is killed and the test fails (a hang is a bug too).
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn eperm_from_seccomp_names_seccomp_and_the_sysctl() {
    run_scenario(
        "eperm_from_seccomp_names_seccomp_and_the_sysctl",
        "eperm",
        libc::EPERM,
        |msg| {
            let lower = msg.to_lowercase();
            lower.contains("seccomp") && lower.contains("io_uring_disabled")
        },
        "mention both \"seccomp\" and \"io_uring_disabled\"",
    );
}

#[test]
fn enosys_says_the_kernel_lacks_io_uring() {
    run_scenario(
        "enosys_says_the_kernel_lacks_io_uring",
        "enosys",
        libc::ENOSYS,
        |msg| {
            let lower = msg.to_lowercase();
            msg.contains("ENOSYS")
                || lower.contains("not supported")
                || lower.contains("does not support")
        },
        "mention \"ENOSYS\", \"not supported\" or \"does not support\"",
    );
}

/// In the parent: re-executes this binary for `test_name` and checks the child's outcome.
/// In the child (`CHILD_ENV` set to `mode`): forbids `io_uring_setup` and checks the runtime.
fn run_scenario(
    test_name: &str,
    mode: &str,
    errno: libc::c_int,
    message_ok: fn(&str) -> bool,
    expectation: &str,
) {
    match std::env::var(CHILD_ENV) {
        Ok(m) if m == mode => child(errno, message_ok, expectation),
        Ok(other) => panic!("{CHILD_ENV}={other} reached the test for mode {mode}"),
        Err(_) => parent(test_name, mode),
    }
}

fn parent(test_name: &str, mode: &str) {
    let run = run_child(
        test_name,
        // io_uring forced: the fallback to epoll would otherwise hide the error.
        &[
            (CHILD_ENV, mode),
            ("RUST_BACKTRACE", "1"),
            ("CORING_BACKEND", "io_uring"),
        ],
        CHILD_DEADLINE,
    );
    let (status, stdout, report) = (run.status, &run.stdout, run.report());
    assert!(
        !run.timed_out,
        "child ({mode}) did not finish within {CHILD_DEADLINE:?}\n{report}"
    );
    assert!(
        status.success(),
        "child ({mode}) failed: {status}\n{report}"
    );
    assert!(
        stdout.contains(CHILD_OK),
        "child ({mode}) exited 0 but did not run the scenario (test name filter?)\n{report}"
    );
    // Show the child's output in the parent's (captured) output, useful with --nocapture.
    println!("{report}");
}

fn child(errno: libc::c_int, message_ok: fn(&str) -> bool, expectation: &str) {
    forbid_io_uring(errno).expect("install the seccomp filter");

    // The filter is in force: a raw io_uring_setup with bogus arguments would normally fail with
    // EFAULT/EINVAL, now it must fail with exactly our errno.
    // SAFETY: io_uring_setup(0, NULL) passes no memory the kernel could write to; with the filter
    // installed the kernel does not even run the syscall.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            0 as libc::c_uint,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    let raw = io::Error::last_os_error();
    assert_eq!(
        rc, -1,
        "io_uring_setup succeeded despite the seccomp filter"
    );
    assert_eq!(
        raw.raw_os_error(),
        Some(errno),
        "seccomp filter returned {raw} instead of errno {errno}"
    );

    let err = match coring::Runtime::new() {
        Ok(_) => panic!("Runtime::new() succeeded although io_uring_setup fails with {raw}"),
        Err(e) => e,
    };
    let msg = err.to_string();
    println!("Runtime::new() error (kind {:?}): {msg}", err.kind());
    assert!(
        message_ok(&msg),
        "Runtime::new() error should {expectation}; got: {msg}"
    );

    let panicked = std::panic::catch_unwind(|| coring::block_on(async {}));
    let payload = match panicked {
        Ok(()) => panic!("block_on succeeded although io_uring_setup fails with {raw}"),
        Err(payload) => payload,
    };
    let panic_msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("block_on panicked with a non-string payload");
    println!("block_on panic message: {panic_msg}");
    assert!(
        panic_msg.contains(&msg),
        "block_on should panic with the Runtime::new() message.\n  error: {msg}\n  panic: {panic_msg}"
    );

    // Not forced, the runtime falls back to epoll and keeps the same reason for the operator.
    std::env::remove_var("CORING_BACKEND");
    let runtime = coring::Runtime::new().expect("the epoll fallback");
    assert_eq!(runtime.backend(), coring::Backend::Epoll);
    assert_eq!(runtime.fallback_reason().as_deref(), Some(msg.as_str()));
    assert_eq!(runtime.block_on(async { 7 }), 7);

    println!("{CHILD_OK}");
}
