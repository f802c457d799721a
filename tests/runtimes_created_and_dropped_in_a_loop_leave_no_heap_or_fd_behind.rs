//! Every runtime registers its remote half in a process-wide registry (so a refused `MSG_RING`
//! wake-up can still find the target's eventfd) and owns an eventfd and a ring. A program that
//! makes runtimes and drops them in a loop, with wake-ups crossing between them, must not grow:
//! once they are all gone, the heap and the fd table are as before.

mod common;

use common::{open_fds, open_fds_settled, CountingAlloc, HeapSnapshot, Watchdog};
use coring::runtime::workers;
use coring::{Builder, Runtime};
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const SINGLE: usize = 1_000;
const MULTI: usize = 200;

/// One single runtime and one two-worker runtime whose workers wake each other, both dropped.
fn one_of_each(i: usize) {
    let runtime = Runtime::new().unwrap();
    runtime.block_on(coring::runtime::nop()).unwrap();
    drop(runtime);
    if i < MULTI {
        let multi = Builder::new().workers(2).build_multi().unwrap();
        let answer = multi.block_on_with(|| async {
            // Worker 1's answer wakes worker 0 from another ring.
            workers()[1].spawn(async { 42 }).await.unwrap()
        });
        assert_eq!(answer, 42);
        drop(multi);
    }
}

#[test]
fn runtimes_created_and_dropped_in_a_loop_leave_no_heap_or_fd_behind() {
    let _watchdog = Watchdog::new(
        300,
        "runtimes_created_and_dropped_in_a_loop_leave_no_heap_or_fd_behind",
    );
    // Warm-up: std's lazy statics, thread-locals and the allocator's first arenas.
    for i in 0..3 {
        one_of_each(i);
    }
    let heap = HeapSnapshot::now();
    let fds = open_fds();
    for i in 0..SINGLE {
        one_of_each(i);
    }
    let (bytes, allocations) = HeapSnapshot::settle_to(&heap, Duration::from_secs(5));
    // Less than one byte and one allocation per runtime: a runtime that leaked anything at all
    // (the smallest allocation is 8 B) would leave at least 8,000 B and 1,000 allocations. Not
    // exactly zero: under load the process's own background threads (the test harness, the
    // watchdog, the allocator) were once seen 48 B up in one allocation fewer after the settle.
    assert!(
        bytes < SINGLE as i64 && allocations < SINGLE as i64 / 100,
        "{SINGLE} runtimes and {MULTI} two-worker runtimes later, the heap holds {bytes} B in \
         {allocations} allocations more"
    );
    assert_eq!(
        open_fds_settled(fds, Duration::from_secs(5)),
        fds,
        "fds left open"
    );
}
