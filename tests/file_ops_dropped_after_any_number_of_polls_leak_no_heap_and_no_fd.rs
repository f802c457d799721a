//! File ops (on the epoll backend each one a call on the blocking pool) dropped after 0, 1, 2
//! or 3 polls, while the call is queued, running or done: the data each one owns (its buffer,
//! path, the fd an open returned) is freed or closed once nobody points into it any more, and
//! nothing is left behind once the runtime is gone: the live heap and the fd count come back
//! to where they were. Both backends.

mod common;

use common::{open_fds, open_fds_settled, poll_once, CountingAlloc, HeapSnapshot, Watchdog};
use coring::fs::{self, File};
use coring::{Backend, Builder};
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Polls `op` `polls` times (letting the loop run between polls), then drops it.
async fn drop_after<F: Future>(polls: usize, op: F) {
    let mut op = pin!(op);
    for _ in 0..polls {
        if poll_once(op.as_mut()).await.is_some() {
            return;
        }
        coring::task::yield_now().await;
    }
}

fn round(backend: Backend, path: &Path) {
    let runtime = Builder::new().backend(backend).build().unwrap();
    runtime.block_on(async {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .await
            .unwrap();
        for polls in 0..4 {
            for _ in 0..20 {
                drop_after(polls, File::open(path)).await;
                drop_after(polls, file.read_at(vec![0u8; 300], 0)).await;
                drop_after(polls, file.write_at(vec![7u8; 300], 0)).await;
                drop_after(polls, file.sync_all()).await;
                drop_after(polls, file.set_len(300)).await;
                drop_after(polls, fs::metadata(path)).await;
            }
        }
        file.close().await.unwrap();
    });
    drop(runtime);
}

#[test]
fn file_ops_dropped_after_any_number_of_polls_leave_nothing_behind() {
    let _dog = Watchdog::new(120, "file ops dropped mid-call");
    assert!(CountingAlloc::installed(), "the counting allocator is off");
    let dir = common::TempDir::new("file-ops-dropped");
    let path = dir.join("data");
    std::fs::write(&path, vec![1u8; 300]).unwrap();
    let backends = common::backends();
    // Warm up: the runtime's lazily made statics, and the pool at its full 64 threads (idle
    // for less than their keep-alive from here on), so the measured rounds start no thread,
    // whose bookkeeping would stay on the heap until it exits.
    let all_busy = std::sync::Arc::new(std::sync::Barrier::new(65));
    let blockers: Vec<_> = (0..64)
        .map(|_| {
            let all_busy = all_busy.clone();
            coring::task::spawn_blocking(move || {
                all_busy.wait();
            })
        })
        .collect();
    all_busy.wait();
    drop(blockers);
    for &backend in &backends {
        round(backend, &path);
    }
    std::thread::sleep(Duration::from_millis(200));
    let fds = open_fds();
    let heap = HeapSnapshot::now();
    for &backend in &backends {
        round(backend, &path);
    }
    let (bytes, allocs) = HeapSnapshot::settle_to(&heap, Duration::from_secs(5));
    let fds_now = open_fds_settled(fds, Duration::from_secs(5));
    assert!(
        bytes <= 0 && allocs <= 0,
        "the live heap grew by {bytes} B in {allocs} allocations ({backends:?})"
    );
    assert_eq!(fds_now, fds, "fds left open ({backends:?})");
}
