//! A thread's registered ring fds are not inherited by `fork()`: the child's table starts empty,
//! so a runtime the child builds may get the very index the inherited runtime had. Dropping the
//! inherited runtime in the child must not take that index out of the child's table (it would
//! unregister the child's own ring, whose next `io_uring_enter` then fails with `EBADF`); and the
//! parent's runtime keeps its registration.
//!
//! Runs in a child process of the test binary, so that the fork happens in a process with no
//! other test threads.

mod common;

use common::process::{expect_child_prints, expect_forked_child_succeeds, is_child};
use coring::Runtime;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const CHILD: &str = "CORING_FORK_RING_FD_CHILD";
const NAME: &str = "a_forked_child_dropping_the_inherited_runtime_keeps_its_own_ring_registered";

/// A timer and a nop: waits and submissions through `io_uring_enter`.
fn works(runtime: &Runtime) -> bool {
    let run = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            coring::time::sleep(Duration::from_millis(2)).await;
            coring::runtime::nop().await
        })
    }));
    matches!(run, Ok(Ok(_)))
}

#[test]
fn a_forked_child_dropping_the_inherited_runtime_keeps_its_own_ring_registered() {
    if common::skip::io_uring_only(NAME) {
        return;
    }
    if !is_child(CHILD) {
        return expect_child_prints(NAME, &[(CHILD, "1")], "parent unaffected");
    }
    let inherited = Runtime::new().unwrap();
    if !inherited.metrics().ring_fd_registered {
        return common::skip::skipped(NAME, "this kernel does not register ring fds (5.18)");
    }
    assert!(works(&inherited));
    std::io::stdout().flush().unwrap();
    // SAFETY: fork has no memory-safety preconditions; the child runs coring code only on this
    // thread, then exits with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match catch_unwind(AssertUnwindSafe(|| {
            let own = Runtime::new().unwrap();
            let registered = own.metrics().ring_fd_registered;
            drop(inherited);
            (registered, works(&own))
        })) {
            Ok((true, true)) => 0,
            Ok((false, _)) => 2,
            Ok((true, false)) => 3,
            Err(_) => 4,
        };
        // SAFETY: ends the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    expect_forked_child_succeeds(
        pid,
        "the child's own runtime broke (2: not registered, 3: failed)",
    );
    assert!(works(&inherited), "the parent's runtime after the fork");
    assert!(inherited.metrics().ring_fd_registered);
    drop(inherited);
    println!("parent unaffected");
}
