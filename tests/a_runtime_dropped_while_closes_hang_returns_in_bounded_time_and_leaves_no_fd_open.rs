//! Files dropped with nobody awaiting their close are closed through the ring, and shutdown waits
//! for those closes, since the ring's teardown cancels the ones still queued for a kernel worker
//! and would leave their fds open. A close whose filesystem does not answer (an NFS or FUSE
//! server gone quiet) must not hold the runtime's drop past its bound, nor leave open an fd it
//! could still close. io_uring only: on epoll a close is a plain `close(2)`.
//!
//! Before the fix the drop took 20.1 s (shutdown's 10 s deadline, then the ring's own drop
//! waited 10 s more for the same closes) and 56 of the 64 fds stayed open for good (the closes
//! queued behind the 8 that hung, cancelled unrun by the ring's teardown).

mod common;

use common::fuse::StuckFlush;
use common::{open_fds, open_fds_settled, Watchdog};
use std::time::{Duration, Instant};

const NAME: &str =
    "a_runtime_dropped_while_closes_hang_returns_in_bounded_time_and_leaves_no_fd_open";

/// Files dropped at once: more than the kernel's workers for the ring (4 per CPU), so that some
/// closes run (and hang in the flush) while the others wait queued behind them.
const FILES: usize = 64;

/// Shutdown's bound (`SHUTDOWN_DEADLINE`); closes are cancelled after a second of it.
const BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_runtime_dropped_while_closes_hang_returns_in_bounded_time_and_leaves_no_fd_open() {
    let _dog = Watchdog::new(120, NAME);
    if common::skip::io_uring_only(NAME) {
        return;
    }
    let fs = match StuckFlush::mount() {
        Ok(fs) => fs,
        Err(why) => return common::skip::skipped(NAME, &why),
    };
    let before = open_fds();
    let runtime = coring::Builder::new()
        .backend(coring::Backend::IoUring)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut files = Vec::with_capacity(FILES);
        let opened = open_fds();
        for _ in 0..FILES {
            files.push(coring::fs::File::open(&fs.path).await.unwrap());
        }
        assert_eq!(open_fds(), opened + FILES);
        drop(files);
    });
    let started = Instant::now();
    drop(runtime);
    let took = started.elapsed();
    let (flushes, held) = fs.flushes();
    // The server answers now: whatever the kernel still runs of those closes ends.
    fs.release();
    let left = open_fds_settled(before, Duration::from_secs(10)) as isize - before as isize;
    eprintln!("runtime drop took {took:?}; {flushes} flushes reached the server, {held} held");
    assert!(held > 0, "no close hung: the scenario did not happen");
    let mut wrong = Vec::new();
    if took >= BOUND {
        wrong.push(format!(
            "the runtime's drop took {took:?} with closes hanging"
        ));
    }
    if left != 0 {
        wrong.push(format!("{left} of {FILES} fds left open"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
