//! `MultiRuntime::block_on` (and `block_on_with`, `run_on_all`) called from one of that
//! runtime's own workers would park the worker that has to run the future: a deadlock. It
//! panics at once with a message that says what to do instead, and the runtime goes on.

mod common;

use common::within;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn block_on_from_a_worker_of_the_same_runtime_panics() {
    within(Duration::from_secs(30), || {
        let runtime = Arc::new(coring::Builder::new().workers(2).build_multi().unwrap());
        for worker in 0..2 {
            let inner = runtime.clone();
            let message = runtime.handles()[worker].spawn(async move {
                let outcome = catch_unwind(AssertUnwindSafe(|| inner.block_on(async { 1 })));
                drop(inner);
                outcome.map_err(panic_text)
            });
            let message = runtime.block_on(message).unwrap().unwrap_err();
            assert!(
                message.contains("block_on") && message.contains("worker"),
                "worker {worker}: {message}"
            );
        }
        // The runtime still works from outside.
        assert_eq!(runtime.block_on(async { 7 }), 7);
    });
}

#[test]
fn run_on_all_from_a_worker_of_the_same_runtime_panics() {
    within(Duration::from_secs(30), || {
        let runtime = Arc::new(coring::Builder::new().workers(2).build_multi().unwrap());
        let inner = runtime.clone();
        let outcome = runtime.block_on(async move {
            let outcome = catch_unwind(AssertUnwindSafe(|| inner.run_on_all(|i| async move { i })));
            drop(inner);
            outcome.map_err(panic_text)
        });
        assert!(outcome.unwrap_err().contains("worker"));
    });
}
