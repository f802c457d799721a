//! After `fork()`, the workers of a `MultiRuntime` exist only in the parent. A child that
//! spawns through an inherited `WorkerHandle` (awaiting it on a runtime of its own, as the docs
//! tell a child to build) must get an error at once, as `MultiRuntime::block_on` panics there,
//! not wait forever for a worker that is not in its process; and the parent's worker must not
//! run the child's work.
//!
//! Runs in a child process of the test binary, so that the fork happens in a process with no
//! other test threads.

mod common;

use common::process::{expect_child_prints, expect_forked_child_succeeds, is_child};
use coring::time::timeout;
use coring::Runtime;
use std::io::Write;
use std::time::Duration;

const CHILD: &str = "CORING_FORK_WORKER_HANDLE_CHILD";

#[test]
fn a_worker_handle_used_in_a_forked_child_fails_instead_of_hanging() {
    if !is_child(CHILD) {
        let name = "a_worker_handle_used_in_a_forked_child_fails_instead_of_hanging";
        return expect_child_prints(name, &[(CHILD, "1")], "parent unaffected");
    }
    let multi = coring::Builder::new().workers(1).build_multi().unwrap();
    let worker = multi.handles()[0].clone();
    assert_eq!(multi.block_on(async { 1 }), 1);
    std::io::stdout().flush().unwrap();
    // SAFETY: fork has no memory-safety preconditions; the child runs a runtime of its own and
    // leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let runtime = Runtime::new().unwrap();
        let spawned = runtime.block_on(timeout(
            Duration::from_secs(5),
            worker.spawn(async { std::process::id() }),
        ));
        let code = match spawned {
            Ok(Err(err)) => {
                eprintln!("child: {err}");
                0
            }
            Ok(Ok(pid)) => {
                eprintln!("child: the spawned work ran in process {pid}");
                3
            }
            Err(_) => {
                eprintln!("child: still waiting for the parent's worker after 5 s");
                4
            }
        };
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    expect_forked_child_succeeds(pid, "the forked child's spawn did not fail at once");
    assert_eq!(multi.block_on(async { 2 }), 2);
    println!("parent unaffected");
}
