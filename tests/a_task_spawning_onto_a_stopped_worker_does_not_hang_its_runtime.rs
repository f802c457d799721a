//! Spawning onto a worker that has stopped fails at once (the handle resolves to a cancelled
//! `JoinError`). A task that retries in a loop is therefore always ready; the cooperative budget
//! makes it yield, so its own worker still runs timers and other tasks, and dropping its runtime
//! finishes instead of joining a worker that never comes back to its loop.

mod common;

use common::within;
use coring::time::sleep;
use coring::Builder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_retry_loop_onto_a_stopped_worker_neither_starves_nor_hangs_shutdown() {
    within(Duration::from_secs(20), || {
        let stopped = Builder::new().workers(1).build_multi().unwrap();
        let gone = stopped.handles()[0].clone();
        drop(stopped);

        let runtime = Builder::new().workers(1).build_multi().unwrap();
        let failures = Arc::new(AtomicU64::new(0));
        let counted = failures.clone();
        runtime.block_on(async move {
            coring::spawn(async move {
                loop {
                    if gone.spawn(async {}).await.is_err() {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            sleep(Duration::from_millis(20)).await;
        });
        let failures = failures.load(Ordering::Relaxed);
        assert!(failures > 0, "the retry loop ran");
        // Must not block forever joining the worker that runs the retry loop.
        drop(runtime);
    });
}
