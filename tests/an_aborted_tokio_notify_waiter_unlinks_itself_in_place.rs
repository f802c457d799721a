//! tokio's `Notify::notified()` keeps its waiter in an intrusive list, linked at the future's
//! pinned address. A coring task waiting on it that is aborted (or shut down with its runtime)
//! must be dropped in place, so the waiter unlinks itself from where it was linked; a later
//! `notify_one()` must then find an empty list, not a node in freed memory. Before the fix this
//! crashed (segfault), so the scenario runs in a child process.

mod common;

use common::process::{is_child, run_child};
use common::Watchdog;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

const CHILD: &str = "CORING_NOTIFY_CHILD";

async fn yield_a_few_times() {
    for _ in 0..3 {
        coring::task::yield_now().await;
    }
}

fn in_child(test: &str) {
    let run = run_child(test, &[(CHILD, "1")], Duration::from_secs(30));
    assert!(
        run.status.success() && !run.timed_out && run.stdout.contains("child done"),
        "the child did not finish cleanly ({:?}, timed out: {}):\n{}",
        run.status,
        run.timed_out,
        run.report()
    );
}

#[test]
fn an_aborted_notify_waiter_leaves_the_list_clean() {
    if !is_child(CHILD) {
        return in_child("an_aborted_notify_waiter_leaves_the_list_clean");
    }
    let _watchdog = Watchdog::new(10, "an_aborted_notify_waiter_leaves_the_list_clean");
    coring::block_on(async {
        let notify = Rc::new(Notify::new());
        for _ in 0..100 {
            let waiting = notify.clone();
            let handle = coring::spawn(async move { waiting.notified().await });
            yield_a_few_times().await;
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
            // Stores a permit if no waiter is linked; walks the list otherwise.
            notify.notify_one();
            notify.notified().await;
        }
    });
    println!("child done");
}

#[test]
fn notify_waiters_shut_down_with_their_runtime_leave_the_list_clean() {
    if !is_child(CHILD) {
        return in_child("notify_waiters_shut_down_with_their_runtime_leave_the_list_clean");
    }
    let _watchdog = Watchdog::new(
        10,
        "notify_waiters_shut_down_with_their_runtime_leave_the_list_clean",
    );
    let notify = Rc::new(Notify::new());
    for _ in 0..100 {
        let runtime = coring::Runtime::new().unwrap();
        for _ in 0..3 {
            let waiting = notify.clone();
            drop(runtime.spawn(async move { waiting.notified().await }));
        }
        runtime.block_on(yield_a_few_times());
        drop(runtime);
        notify.notify_waiters();
        notify.notify_one();
        coring::block_on(notify.notified());
    }
    println!("child done");
}
