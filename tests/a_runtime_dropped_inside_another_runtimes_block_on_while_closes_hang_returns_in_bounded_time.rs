//! A runtime dropped from inside another runtime's `block_on` while its detached closes hang in
//! a FUSE flush: its shutdown cancels them after a second, as at top level, and neither the
//! inner drop nor the outer runtime is held to the shutdown deadline; once the server answers,
//! no fd is left open. io_uring only.

mod common;

use common::fuse::StuckFlush;
use common::{open_fds, open_fds_settled, Watchdog};
use std::time::{Duration, Instant};

const NAME: &str =
    "a_runtime_dropped_inside_another_runtimes_block_on_while_closes_hang_returns_in_bounded_time";

/// More than the ring's kernel workers, so some closes wait queued behind the hung ones.
const FILES: usize = 32;

/// Shutdown's bound (`SHUTDOWN_DEADLINE`).
const BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_runtime_dropped_inside_another_runtimes_block_on_while_closes_hang_returns_in_bounded_time() {
    let _dog = Watchdog::new(120, NAME);
    if common::skip::io_uring_only(NAME) {
        return;
    }
    let fs = match StuckFlush::mount() {
        Ok(fs) => fs,
        Err(why) => return common::skip::skipped(NAME, &why),
    };
    let before = open_fds();
    let build = || {
        coring::Builder::new()
            .backend(coring::Backend::IoUring)
            .build()
            .unwrap()
    };
    // `block_on` does not nest (it says so): the inner runtime runs first, and is dropped
    // inside the outer one's.
    let inner = build();
    inner.block_on(async {
        let mut files = Vec::with_capacity(FILES);
        for _ in 0..FILES {
            files.push(coring::fs::File::open(&fs.path).await.unwrap());
        }
        drop(files);
    });
    let outer = build();
    let took = outer.block_on(async {
        let started = Instant::now();
        drop(inner);
        let took = started.elapsed();
        // The outer runtime still works.
        coring::time::sleep(Duration::from_millis(1)).await;
        took
    });
    drop(outer);
    let (flushes, held) = fs.flushes();
    fs.release();
    let left = open_fds_settled(before, Duration::from_secs(10)) as isize - before as isize;
    eprintln!("inner drop took {took:?}; {flushes} flushes, {held} held");
    assert!(held > 0, "no close hung: the scenario did not happen");
    assert!(took < BOUND, "the inner runtime's drop took {took:?}");
    assert_eq!(left, 0, "fds left open");
}
