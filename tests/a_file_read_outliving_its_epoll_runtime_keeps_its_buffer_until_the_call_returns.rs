//! On the epoll backend a file read runs on the blocking pool, writing through a pointer into
//! the op's buffer. A read future that outlives its runtime (polled once inside `block_on`,
//! dropped after the runtime) must keep its buffer until that call has returned: here the pool
//! is busy, so the call has not even started when the future is dropped, and it must not later
//! write into memory the program has reused.
//!
//! Run in a child process: the failure is memory corruption.

mod common;

use common::process::{is_child, run_child};
use coring::fs::File;
use coring::{Backend, Builder};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const CHILD: &str = "CORING_TEST_FILE_READ_OUTLIVING_RUNTIME";
const LEN: usize = 512;

#[test]
fn a_read_future_dropped_after_its_runtime_never_writes_into_freed_memory() {
    if is_child(CHILD) {
        return child();
    }
    let run = run_child(
        "a_read_future_dropped_after_its_runtime_never_writes_into_freed_memory",
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
    let dir = common::tmp::TempDir::new("read-outliving-runtime");
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

    let mut read = Box::pin(file.read_at(vec![0u8; LEN], 0));
    let first = runtime.block_on(common::poll_once(read.as_mut()));
    assert!(first.is_none(), "the read finished with the pool busy");
    drop(runtime);
    drop(read);
    drop(file);
    // Whatever the program opens next may get the read's fd number (if its `File` was closed
    // too early): the late call then reads from this one.
    let _reopened: Vec<_> = (0..8)
        .map(|_| std::fs::File::open(&path).unwrap())
        .collect();
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
    println!("probes intact");
}
