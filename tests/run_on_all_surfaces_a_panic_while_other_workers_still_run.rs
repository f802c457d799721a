//! `run_on_all` resumes the first panic of a worker's main as it happens, even while another
//! worker's main (one that serves forever) is still running, not after the mains before it in
//! worker order have finished.

mod common;

use common::within;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

#[test]
fn a_panic_on_the_last_worker_comes_back_while_the_first_still_runs() {
    within(Duration::from_secs(30), || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            runtime.run_on_all(|index| async move {
                if index == 1 {
                    panic!("worker 1 gives up");
                }
                // Worker 0 serves forever.
                std::future::pending::<()>().await;
            })
        }));
        let payload = outcome.expect_err("run_on_all returned although worker 1 panicked");
        let text = payload.downcast_ref::<&str>().copied().unwrap_or_default();
        assert_eq!(text, "worker 1 gives up");
        // Dropping the runtime ends worker 0's main.
        drop(runtime);
    });
}
