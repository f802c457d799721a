//! Shutdown cancels detached closes only once they had a second (`close.rs`): closes of files
//! whose filesystem has no `flush` (a plain temporary file) finish at once, so a runtime
//! dropped with 0, 1 or 1000 of them in flight returns well before that second, and leaves no
//! fd open. io_uring only: on epoll a close is a plain `close(2)`.

mod common;

use common::{open_fds, open_fds_settled, TempDir, Watchdog};
use std::time::{Duration, Instant};

const NAME: &str =
    "a_runtime_dropped_with_ordinary_closes_in_flight_does_not_wait_for_the_close_cancel";

/// When shutdown would cancel the closes (`CLOSES_CANCELLED_AFTER`): a drop that waited for it
/// takes at least this long.
const CANCEL_AFTER: Duration = Duration::from_secs(1);

#[test]
fn a_runtime_dropped_with_ordinary_closes_in_flight_does_not_wait_for_the_close_cancel() {
    let _dog = Watchdog::new(60, NAME);
    if common::skip::io_uring_only(NAME) {
        return;
    }
    let dir = TempDir::new("ordinary-closes");
    let path = dir.join("f");
    std::fs::write(&path, "x").unwrap();
    let before = open_fds();
    let mut wrong = Vec::new();
    for files in [0, 1, 1000] {
        let runtime = coring::Builder::new()
            .backend(coring::Backend::IoUring)
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut opened = Vec::with_capacity(files);
            for _ in 0..files {
                opened.push(coring::fs::File::open(&path).await.unwrap());
            }
            // The last thing the task does: the closes are queued, and submitted by shutdown.
            drop(opened);
        });
        let started = Instant::now();
        drop(runtime);
        let took = started.elapsed();
        eprintln!("{files} closes in flight: the runtime's drop took {took:?}");
        if took >= CANCEL_AFTER {
            wrong.push(format!("{files} ordinary closes: the drop took {took:?}"));
        }
    }
    let now = open_fds_settled(before, Duration::from_secs(5));
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(now, before, "fds left open");
}
