//! The last reference to a `MultiRuntime` may go on one of its own workers (an `Arc` moved into
//! a task). That worker cannot join itself: the drop stops and joins the others, and the current
//! worker finishes its shutdown when its thread returns to the loop. No panic, no thread left.

mod common;

use common::within;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Names of this process's threads that are coring workers.
fn worker_threads() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(comm) = std::fs::read_to_string(entry.unwrap().path().join("comm")) else {
            continue;
        };
        if comm.starts_with("coring-worker") {
            names.push(comm.trim().to_owned());
        }
    }
    names
}

#[test]
fn the_last_reference_dropped_on_a_worker_stops_every_worker() {
    within(Duration::from_secs(30), || {
        for worker in [0, 1] {
            let runtime = Arc::new(coring::Builder::new().workers(2).build_multi().unwrap());
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let last = runtime.clone();
            let go_rx = std::sync::Mutex::new(go_rx);
            // Dropping the task's handle detaches it: the task outlives the main thread's
            // reference.
            drop(runtime.handles()[worker].spawn(async move {
                // Blocks this worker briefly, until the main thread has let go of its reference.
                go_rx.lock().unwrap().recv().unwrap();
                drop(last);
                // Reached only if the drop returned instead of panicking.
                done_tx.send(()).unwrap();
            }));
            drop(runtime);
            go_tx.send(()).unwrap();
            done_rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("dropping the runtime on worker {worker} panicked"));
            let started = Instant::now();
            while !worker_threads().is_empty() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "workers left running: {:?}",
                    worker_threads()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
}
