//! Tasks: spawning, yielding, joining, and running blocking code off the core.
//!
//! Scheduling is cooperative, with a budget: one poll of a task may take about 128 ready results
//! from the runtime's futures (due sleeps and interval ticks, channel sends and receives,
//! oneshot replies, completed operations, failed remote spawns). Past that, the next one returns `Pending` and the task runs
//! again after the runtime has fired due timers and serviced the ring, so a task whose awaits are
//! always ready cannot take its core for good. Pure computation between awaits is not counted:
//! call [`yield_now`] in long loops that await nothing.

mod blocking;
pub(crate) mod coop;
mod join_all;
mod yield_now;

pub use crate::executor::{JoinError, JoinHandle};
pub use blocking::{spawn_blocking, BlockingHandle};
pub use join_all::{join_all, JoinAll};
pub use yield_now::yield_now;

use std::future::Future;

/// Spawns `future` as a new task on the current thread's runtime and returns a handle to await
/// its output. The future need not be `Send`: it never leaves this thread.
///
/// Dropping the handle detaches the task. A task that panics gives a [`JoinError`] whose
/// [`is_panic`](JoinError::is_panic) is true; the runtime and other tasks go on.
///
/// ```
/// coring::block_on(async {
///     let local = std::rc::Rc::new(5); // !Send is fine
///     let handle = coring::spawn(async move { *local * 2 });
///     assert_eq!(handle.await.unwrap(), 10);
/// });
/// ```
///
/// # Panics
///
/// Outside a coring runtime.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    crate::executor::spawn(future)
}
