//! Adversary: while one thread drops a multi-worker runtime, another keeps handing its workers
//! sockets through their `WorkerHandle`s (each task drops its pair at once, or waits on a read
//! that nobody answers). Some tasks run and close through the ring as shutdown starts, some are
//! dropped unrun, some spawns are refused: whichever, once the runtime and the handles are gone
//! no fd of theirs may be open. 20 rounds on every backend.

mod common;

use common::{backends, open_fds, open_fds_settled, Watchdog};
use coring::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ROUNDS: u64 = 20;

fn round(backend: coring::Backend, round: u64) -> Option<String> {
    let before = open_fds();
    let runtime = coring::Builder::new()
        .backend(backend)
        .workers(2)
        .build_multi()
        .unwrap();
    let handles = runtime.handles().to_vec();
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut spawned = 0u64;
            while !stop.load(Ordering::SeqCst) {
                for handle in &handles {
                    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
                    let wait = spawned % 2 == 0;
                    spawned += 1;
                    drop(handle.spawn_with(move || async move {
                        let a = UnixStream::from_std(a).unwrap();
                        let b = UnixStream::from_std(b).unwrap();
                        if wait {
                            let _ = a.read(vec![0u8; 8]).await;
                        }
                        drop((a, b));
                    }));
                }
            }
            drop(handles);
            spawned
        })
    };
    std::thread::sleep(Duration::from_millis(5 + round % 7 * 3));
    drop(runtime);
    stop.store(true, Ordering::SeqCst);
    let spawned = spawner.join().unwrap();
    let after = open_fds_settled(before, Duration::from_secs(10));
    (after != before).then(|| {
        format!(
            "{backend:?} round {round}: {} fds left open ({spawned} tasks spawned)",
            after as isize - before as isize
        )
    })
}

#[test]
fn closes_racing_a_multi_worker_runtimes_drop_from_another_thread_leave_no_fd_open() {
    let _dog = Watchdog::new(300, "closes racing a runtime's drop");
    let mut left = Vec::new();
    for backend in backends() {
        for r in 0..ROUNDS {
            left.extend(round(backend, r));
        }
    }
    assert!(left.is_empty(), "{left:#?}");
}
