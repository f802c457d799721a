//! After `fork()`, a child that drops its copies of a runtime and of a listener (inside the
//! runtime, so their close and cancel would go through the ring) must not touch the parent's
//! ring: the parent's pending read still gets its bytes and its listener still accepts. Using
//! the inherited runtime in the child is a clear error, not a crash. Spawning a process with
//! `std::process::Command` while ops are in flight is unaffected.
//!
//! Runs in a child process of the test binary, so that the fork happens in a process with no
//! other test threads.

mod common;

use common::process::{expect_child_prints, expect_forked_child_succeeds, is_child};
use coring::net::TcpListener;
use coring::Runtime;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const CHILD: &str = "CORING_FORK_CHILD";

/// Runs test `name` in a child process and checks it exited cleanly after printing `last`.
fn in_child(name: &str, last: &str) {
    expect_child_prints(name, &[(CHILD, "1")], last);
}

#[test]
fn a_forked_child_dropping_its_copies_leaves_the_parent_running() {
    if common::skip::io_uring_only("a_forked_child_dropping_its_copies_leaves_the_parent_running") {
        return;
    }
    if !is_child(CHILD) {
        return in_child(
            "a_forked_child_dropping_its_copies_leaves_the_parent_running",
            "parent unaffected",
        );
    }
    let runtime = Runtime::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = runtime.block_on(listener.accept()).unwrap();
    let read = runtime.spawn(async move { server.read(Vec::with_capacity(64)).await });
    runtime.block_on(coring::task::yield_now());
    assert_eq!(runtime.metrics().ops_in_flight, 1, "the read is in flight");

    // Spawning a process while the read is in flight.
    let status = std::process::Command::new("true").status().unwrap();
    assert!(status.success());

    std::io::stdout().flush().unwrap();
    // SAFETY: fork has no memory-safety preconditions; the child only drops values and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // The child: drop the listener inside the runtime (its close would be queued on the
        // ring), try to use the runtime, then drop it (which would cancel the read).
        let code = match catch_unwind(AssertUnwindSafe(|| {
            let dropped = catch_unwind(AssertUnwindSafe(|| {
                runtime.block_on(async move { drop(listener) })
            }));
            let used = catch_unwind(AssertUnwindSafe(|| {
                runtime.block_on(coring::runtime::nop())
            }));
            drop(runtime);
            (dropped.is_ok(), used)
        })) {
            // Using the inherited ring must fail with an error (or a panic saying why), not
            // work on the parent's queues.
            Ok((_, Ok(Err(err)))) if err.to_string().contains("fork") => 0,
            Ok((_, Err(_))) => 0,
            _ => 3,
        };
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    expect_forked_child_succeeds(pid, "the forked child failed or crashed");

    client.write_all(b"ping").unwrap();
    let (n, buf) = runtime.block_on(read).unwrap();
    assert_eq!(
        n.expect("the parent's read after the child dropped its copies"),
        4
    );
    assert_eq!(&buf[..], b"ping");
    let accepted = runtime.block_on(async {
        let _second = std::net::TcpStream::connect(addr).unwrap();
        listener.accept().await.map(|_| ())
    });
    accepted.expect("the parent's listener after the child dropped its copy");
    println!("parent unaffected");
}

#[test]
fn a_forked_child_dropping_a_multi_runtime_copy_returns_and_leaves_the_workers_running() {
    if !is_child(CHILD) {
        return in_child(
            "a_forked_child_dropping_a_multi_runtime_copy_returns_and_leaves_the_workers_running",
            "workers unaffected",
        );
    }
    let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
    assert_eq!(runtime.block_on(async { 1 }), 1);
    std::io::stdout().flush().unwrap();
    // SAFETY: fork has no memory-safety preconditions; the child only drops a value and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // Its workers are not in this process: a join would wait for them forever.
        let used = catch_unwind(AssertUnwindSafe(|| runtime.block_on(async { 2 })));
        drop(runtime);
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(if used.is_err() { 0 } else { 3 }) };
    }
    let started = std::time::Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: polls the child we just forked; `status` is a live c_int.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if waited == pid {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hangs dropping its copy of the runtime");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child failed or crashed: status {status:#x}"
    );
    assert_eq!(runtime.run_on_all(|i| async move { i }), vec![0, 1]);
    println!("workers unaffected");
}
