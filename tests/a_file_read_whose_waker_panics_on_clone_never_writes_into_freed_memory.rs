//! On the epoll backend a file read runs on the blocking pool, writing through a pointer into
//! the op's buffer. The first poll starts the call, then registers the task's waker with the
//! call's handle (a `Waker::clone`, user code for a custom waker). A clone that panics unwinds
//! through the poll and drops the future: the future must already know the call is running
//! then, and keep the buffer until it returns, or the pool thread later writes into memory
//! the program has reused.
//!
//! Run in a child process: the failure is memory corruption.

mod common;

use common::process::{is_child, run_child};
use coring::fs::File;
use coring::{Backend, Builder};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::task::Context;
use std::time::Duration;

const CHILD: &str = "CORING_TEST_FILE_READ_WAKER_PANICS_ON_CLONE";
const LEN: usize = 512;

#[test]
fn a_read_whose_first_poll_panics_in_waker_clone_never_writes_into_freed_memory() {
    if is_child(CHILD) {
        return child();
    }
    let run = run_child(
        "a_read_whose_first_poll_panics_in_waker_clone_never_writes_into_freed_memory",
        &[(CHILD, "1")],
        Duration::from_secs(60),
    );
    assert!(
        run.status.success() && run.stdout.contains("probes intact"),
        "the child failed ({:?}):\n{}",
        run.status,
        run.report()
    );
}

fn child() {
    let dir = common::tmp::TempDir::new("read-waker-panics-on-clone");
    let path = dir.join("data");
    std::fs::write(&path, vec![0xAAu8; LEN]).unwrap();
    let runtime = Builder::new().backend(Backend::Epoll).build().unwrap();
    let file = runtime.block_on(File::open(&path)).unwrap();

    // Every pool thread waits at the gate, so the read's call queues behind them.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let blockers: Vec<_> = (0..64)
        .map(|_| {
            let gate = gate.clone();
            coring::task::spawn_blocking(move || {
                let mut open = gate.0.lock().unwrap();
                while !*open {
                    open = gate.1.wait(open).unwrap();
                }
            })
        })
        .collect();

    let waker = common::waker::panicking_on_clone();
    let unwound = runtime.block_on(async {
        let mut read = Box::pin(file.read_at(vec![0u8; LEN], 0));
        catch_unwind(AssertUnwindSafe(move || {
            let _ = read.as_mut().poll(&mut Context::from_waker(&waker));
        }))
        .is_err()
    });
    assert!(unwound, "the first poll never cloned the waker");
    // Memory the program uses next, likely where the read's buffer was (a small buffer, so the
    // allocator hands the same chunk back at once).
    let probes: Vec<Vec<u8>> = (0..32).map(|_| vec![0x55u8; LEN]).collect();
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    drop(blockers);
    std::thread::sleep(Duration::from_millis(500));
    for (i, probe) in probes.iter().enumerate() {
        let written = probe.iter().filter(|&&b| b != 0x55).count();
        assert_eq!(
            written, 0,
            "probe {i}: {written} bytes written by a file read whose future was dropped"
        );
    }
    drop(runtime);
    println!("probes intact");
}
