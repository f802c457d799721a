//! Tasks: spawning, yielding, joining, and running blocking code off the core.

mod blocking;
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
