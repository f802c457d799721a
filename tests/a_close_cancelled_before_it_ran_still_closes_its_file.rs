//! A close the kernel cancelled before it ran (`ECANCELED`) left the fd open, and nothing else
//! would close it: a leak. On io_uring a close of a file whose filesystem has a `flush` method
//! (FUSE, NFS, overlayfs, POSIX message queues) is not done at submission but queued for a
//! kernel worker thread, and a cancel that reaches it there (a dropped close future's cancel,
//! the cancel of every op at shutdown, the ring's teardown) ends it unrun. Here the files are
//! POSIX message queues (reopened through `/proc/self/fd`, as a user would open any path), whose
//! closes always take that path, many at once so that some are still queued when the cancel
//! comes. Each scenario runs on every backend (on epoll a close is a plain `close(2)`).

mod common;

use common::mqueue::{queue, Queue};
use common::{backends, open_fds, open_fds_settled, poll_once, Watchdog};
use coring::fs::File;
use std::pin::pin;
use std::time::Duration;

/// Files closed at once in each scenario: enough that the kernel's workers cannot take them
/// all before the cancel or the ring's teardown. Before the fix, on io_uring: 256 or 512 of
/// 1,024 left open by a shutdown with closes in flight, all 1,024 by dropped close futures,
/// 768 or 1,024 by dropped files (closes with nobody waiting); 256 dropped files left none.
const FILES: usize = 1024;

/// Runs `scenario` (which opens and closes files of `queue` in the runtime) on every backend;
/// says how many fds the runtime's drop left open, if any.
fn fds_left(queue: &Queue, what: &str, scenario: impl Fn(&coring::Runtime, &Queue)) -> Vec<String> {
    let mut left = Vec::new();
    for backend in backends() {
        let before = open_fds();
        let runtime = coring::Builder::new().backend(backend).build().unwrap();
        scenario(&runtime, queue);
        drop(runtime);
        let after = open_fds_settled(before, Duration::from_secs(5));
        if after != before {
            left.push(format!(
                "{what} on {backend:?}: {} of {FILES} fds left open",
                after as isize - before as isize
            ));
        }
    }
    left
}

async fn open_all(queue: &Queue) -> Vec<File> {
    let mut files = Vec::with_capacity(FILES);
    for _ in 0..FILES {
        files.push(File::open(&queue.path).await.unwrap());
    }
    files
}

/// The three ways a close goes in flight with no one to see it end, one after the other (fd
/// counts are per process: they cannot run side by side).
#[test]
fn a_close_cancelled_before_it_ran_still_closes_its_file() {
    let _dog = Watchdog::new(120, "closes cancelled before they ran");
    let Some(queue) = queue("close") else {
        common::skip::skipped(
            "a_close_cancelled_before_it_ran_still_closes_its_file",
            "no POSIX message queues (mq_open failed)",
        );
        return;
    };
    let mut left = closes_in_flight_when_the_runtime_is_dropped(&queue);
    left.extend(close_futures_dropped_in_flight(&queue));
    left.extend(files_dropped_just_before_the_runtime(&queue));
    assert!(left.is_empty(), "{left:#?}");
}

/// The runtime is dropped while every close is in flight: shutdown cancels them.
fn closes_in_flight_when_the_runtime_is_dropped(queue: &Queue) -> Vec<String> {
    fds_left(queue, "closes in flight at shutdown", |runtime, queue| {
        runtime.block_on(async {
            for file in open_all(queue).await {
                coring::spawn(async move {
                    let _ = file.close().await;
                });
            }
            // The tasks run, and their closes go in, before this future ends.
            coring::task::yield_now().await;
        });
    })
}

/// Close futures dropped after their first poll: each drop sends a cancel.
fn close_futures_dropped_in_flight(queue: &Queue) -> Vec<String> {
    fds_left(queue, "dropped close futures", |runtime, queue| {
        runtime.block_on(async {
            for file in open_all(queue).await {
                let mut close = pin!(file.close());
                let _ = poll_once(close.as_mut()).await;
            }
            // Let the closes and their cancels be answered.
            coring::time::sleep(Duration::from_millis(50)).await;
        });
    })
}

/// Files dropped (closed through the ring with no one waiting) just before the runtime goes.
fn files_dropped_just_before_the_runtime(queue: &Queue) -> Vec<String> {
    fds_left(queue, "files dropped before shutdown", |runtime, queue| {
        runtime.block_on(async {
            drop(open_all(queue).await);
        });
    })
}
