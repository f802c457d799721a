//! `coring::compat::hyper`'s runtime pieces as their docs promise (feature `hyper`):
//! `HyperExecutor` runs the `!Send` futures hyper hands it as tasks of the current worker (and
//! panics outside a runtime, as `coring::spawn` does); `HyperTimer` is `Send + Sync`, and its
//! `reset` moves a sleep's deadline, its own sleeps in place, any other sleep by replacing it.

mod common;

use coring::compat::hyper::{HyperExecutor, HyperTimer};
use hyper::rt::{Executor, Timer};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const FAR: Duration = Duration::from_secs(3600);
const SOON: Duration = Duration::from_millis(20);

#[coring::test]
async fn the_executor_runs_a_non_send_future_on_this_worker() {
    let _watchdog = common::Watchdog::new(30, "HyperExecutor");
    let ran = Rc::new(Cell::new(false));
    let flag = ran.clone();
    HyperExecutor::new().execute(async move { flag.set(true) });
    coring::task::yield_now().await;
    assert!(
        ran.get(),
        "the spawned future did not run on the current worker"
    );
}

#[test]
fn the_executor_panics_outside_a_runtime() {
    let outside = std::panic::catch_unwind(|| HyperExecutor::new().execute(async {}));
    assert!(outside.is_err(), "execute outside a runtime did not panic");
}

#[test]
fn the_timer_is_send_and_sync_as_http1_builder_timer_requires() {
    fn send_sync<T: Send + Sync + 'static>(_: T) {}
    send_sync(HyperTimer::new());
}

#[coring::test]
async fn reset_moves_a_timer_sleep_to_the_new_deadline() {
    let _watchdog = common::Watchdog::new(30, "HyperTimer reset");
    let timer = HyperTimer::new();
    let mut sleep = timer.sleep(FAR);
    let start = Instant::now();
    timer.reset(&mut sleep, Instant::now() + SOON);
    sleep.await;
    assert!(start.elapsed() >= SOON && start.elapsed() < FAR / 2);
}

/// A sleep from another timer: never ready on its own.
struct Foreign;

impl Future for Foreign {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl hyper::rt::Sleep for Foreign {}

#[coring::test]
async fn reset_of_a_sleep_from_another_timer_replaces_it_with_one_at_the_new_deadline() {
    let _watchdog = common::Watchdog::new(30, "HyperTimer reset of a foreign sleep");
    let mut sleep: Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Foreign);
    let start = Instant::now();
    HyperTimer::new().reset(&mut sleep, Instant::now() + SOON);
    sleep.await;
    assert!(start.elapsed() >= SOON);
}
