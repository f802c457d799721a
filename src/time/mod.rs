//! Time: `sleep`, `sleep_until`, `timeout`, `timeout_op`, `interval`.
//!
//! Timers live in a per-thread store in user space; only the ring's timed wait wakes the loop,
//! so any number of sleeps cost one kernel timeout. A sleep never completes before its deadline:
//! it checks the clock itself when polled.
//!
//! ```
//! use std::time::Duration;
//! coring::block_on(async {
//!     let start = coring::time::Instant::now();
//!     coring::time::sleep(Duration::from_millis(20)).await;
//!     assert!(start.elapsed() >= Duration::from_millis(20));
//!     let slow = coring::time::sleep(Duration::from_secs(60));
//!     assert!(coring::time::timeout(Duration::from_millis(5), slow).await.is_err());
//! });
//! ```

mod interval;
mod timeout_op;
pub(crate) mod timers;

pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use std::time::Instant;
pub use timeout_op::{timeout_op, timeout_op_at};

use crate::task::coop;
use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use timers::{TimerKey, Timers};

/// Errors of this module.
pub mod error {

    /// A [`timeout`](super::timeout) ran out before its future finished.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Elapsed(pub(super) ());

    error_message!(Elapsed: "deadline has elapsed");

    impl From<Elapsed> for std::io::Error {
        fn from(_: Elapsed) -> Self {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline has elapsed")
        }
    }
}

pub(crate) type TimersCell = RefCell<Timers>;

thread_local! {
    static CURRENT: RefCell<Option<Rc<TimersCell>>> = const { RefCell::new(None) };
}

/// Makes `timers` the current store and returns the previous one. Once thread exit has
/// destroyed the slot there is no current store, and `timers` is handed back instead.
pub(crate) fn set_current(timers: Option<Rc<TimersCell>>) -> Option<Rc<TimersCell>> {
    crate::thread_slot::replace(&CURRENT, timers)
}

#[track_caller]
fn current() -> Rc<TimersCell> {
    CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .expect(
            "coring: timers need a runtime; await sleeps inside coring::block_on, \
         Runtime::block_on or a task spawned there",
        )
}

/// Runs `f` on the current timer store if it is store `store_id`; `None` if it is not. Does
/// nothing once thread exit has destroyed the slot (a `Sleep` dropped from another
/// thread-local's destructor): the store is then unreachable, and dropped with its runtime.
fn with_store<R>(store_id: usize, f: impl FnOnce(&mut Timers) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| {
            let current = c.try_borrow().ok()?;
            let mut timers = current.as_ref()?.try_borrow_mut().ok()?;
            (timers.store_id() == store_id).then(|| f(&mut timers))
        })
        .ok()
        .flatten()
}

/// Waits until `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(later(Instant::now(), duration))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registered: None,
    }
}

/// `at + duration`, or "never" (about 30 years ahead) where that is past what `Instant` holds.
pub(crate) fn later(at: Instant, duration: Duration) -> Instant {
    at.checked_add(duration).unwrap_or_else(far_future)
}

fn far_future() -> Instant {
    // About 30 years: far enough to mean "never", near enough not to overflow Instant.
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It registers with the runtime's timers when first polled and unregisters when dropped. It is
/// `Send`, so futures that sleep can be sent to another worker; it registers with the timers of
/// the thread that polls it.
///
/// Each runtime's timers belong to its thread and are not shared, so a sleep cannot reach them
/// from elsewhere: a polled sleep that is then dropped or reset on another thread, or polled on
/// another runtime, leaves its entry in the first runtime's timers until its deadline. The entry
/// then wakes the last waker it was given once (a spurious wake-up, which futures tolerate) and
/// is gone, and dropping that runtime frees it at once. Until then it holds one waker, which may
/// keep the polling task's allocation alive. Moving sleeps between runtimes is thus sound and
/// bounded, but a long sleep moved often is best dropped and created afresh on its new runtime.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The store it is registered in (by id, not by pointer, so `Sleep` stays `Send`) and its key.
    registered: Option<(usize, TimerKey)>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later), as if the sleep had been created for `deadline`.
    ///
    /// A sleep that was polled stays registered with the waker of its last poll: its task is
    /// woken at the new deadline even if it does not poll the sleep again first (as with tokio).
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some((store_id, key)) = self.registered {
            let mut moved = false;
            with_store(store_id, |timers| moved = timers.reschedule(key, deadline));
            if !moved {
                // It fired (its task was woken, and the poll that follows registers again), or it
                // lives in a store this thread cannot reach: see `unregister`.
                self.registered = None;
            }
        }
    }

    fn unregister(&mut self) {
        if let Some((store_id, key)) = self.registered.take() {
            // Dropped away from its store (another thread, or after its runtime ended): the entry
            // stays there until its deadline and then wakes nobody who cares (see `Sleep`).
            let waker = with_store(store_id, |timers| timers.remove(key));
            // Dropped once the store is not borrowed: a waker's Drop is user code, which may
            // drop another sleep (whose own unregistering needs the store).
            drop(waker);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            // Due is ready by default: a task that only meets due timers must still yield.
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            self.unregister();
            return Poll::Ready(());
        }
        let timers = current();
        let mut replaced = None;
        let mut timers = timers.borrow_mut();
        let updated = self.registered.is_some_and(|(store_id, key)| {
            store_id == timers.store_id() && timers.update(key, cx.waker(), &mut replaced)
        });
        if !updated {
            let key = timers.insert(self.deadline, cx.waker().clone());
            self.registered = Some((timers.store_id(), key));
        }
        drop(timers);
        // The replaced waker is dropped after the borrow, as in `unregister`.
        drop(replaced);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers").field("len", &self.len()).finish()
    }
}

/// Runs `future` with a time limit: its output, or [`error::Elapsed`] if `duration` passes
/// first (the future is then dropped, cancelling whatever I/O it had in flight). What that I/O
/// had already done is lost with it; [`timeout_op`] cancels and still awaits, handing it back.
///
/// The deadline is `now + duration` when `timeout` is called, not when the returned future is
/// first polled (as with tokio).
pub fn timeout<F: Future>(
    duration: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, error::Elapsed>> {
    timeout_at(later(Instant::now(), duration), future)
}

/// Like [`timeout`], with an absolute deadline.
pub async fn timeout_at<F: Future>(
    deadline: Instant,
    future: F,
) -> Result<F::Output, error::Elapsed> {
    let mut future = pin!(future);
    let mut sleep = sleep_until(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(error::Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
