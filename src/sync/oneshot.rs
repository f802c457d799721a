//! A channel for exactly one value: the usual way to send a reply back to whoever asked.
//!
//! [`Sender::send`] consumes the sender and never waits. The [`Receiver`] is itself a future of
//! `Result<T, RecvError>`: the value, or [`RecvError`] if the sender was dropped without
//! sending. Dropping (or [closing](Receiver::close)) the receiver makes `send` fail and give the
//! value back; a sender doing expensive work can watch for that with [`Sender::closed`].
//!
//! Works between tasks on one core and across threads (both halves are `Send` when `T: Send`).
//!
//! ```
//! coring::block_on(async {
//!     let (reply_tx, reply_rx) = coring::sync::oneshot::channel();
//!     coring::spawn(async move {
//!         let _ = reply_tx.send(6 * 7);
//!     });
//!     assert_eq!(reply_rx.await, Ok(42));
//! });
//! ```

use crate::task::coop;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

pub mod error;

use error::{RecvError, TryRecvError};

/// Creates a one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Channel {
        state: Mutex::new(ChannelState {
            value: None,
            sender_done: false,
            receiver_closed: false,
            receiver_waker: None,
            sender_waker: None,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// Sends the one value. Dropping it unsent makes the receiver resolve to [`RecvError`].
pub struct Sender<T> {
    shared: Arc<Channel<T>>,
}

/// Receives the one value; `.await` it, or poll with [`try_recv`](Receiver::try_recv).
pub struct Receiver<T> {
    shared: Arc<Channel<T>>,
}

/// Like the mpsc channel, one mutex guards the state, and wakers and values are dropped or
/// woken only after unlocking (a value's `Drop` may reach back into this channel).
struct Channel<T> {
    state: Mutex<ChannelState<T>>,
}

struct ChannelState<T> {
    /// The sent value until the receiver takes it.
    value: Option<T>,
    /// The sender has sent or was dropped: no value will arrive beyond `value`.
    sender_done: bool,
    /// The receiver was closed or dropped: `send` fails from now on.
    receiver_closed: bool,
    receiver_waker: Option<Waker>,
    /// Registered by `Sender::closed`, woken when the receiver goes away.
    sender_waker: Option<Waker>,
}

impl<T> Channel<T> {
    /// The state is consistent at every unlock and no user code runs under the lock, so a
    /// poisoned mutex still guards valid data.
    fn lock(&self) -> MutexGuard<'_, ChannelState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stores `waker` in `slot` unless an equivalent one is there; returns the replaced waker so
/// the caller can drop it after unlocking.
fn register(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(old) if old.will_wake(waker) => None,
        _ => slot.replace(waker.clone()),
    }
}

impl<T> Sender<T> {
    /// Sends `value`; fails, giving it back, if the receiver is gone or closed.
    ///
    /// A successful send only means the value was handed over: the receiver may still be
    /// dropped before looking at it.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut state = self.shared.lock();
        if state.receiver_closed {
            return Err(value);
        }
        state.value = Some(value);
        state.sender_done = true;
        let receiver_waker = state.receiver_waker.take();
        drop(state);
        if let Some(waker) = receiver_waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone or closed, so `send` would fail.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().receiver_closed
    }

    /// Waits until the receiver is gone or closed: a way to stop working on a reply nobody
    /// wants any more.
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await;
    }

    /// Polls for the receiver to be gone or closed; `Pending` arranges for `cx`'s waker to be
    /// woken when it is.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.lock();
        if state.receiver_closed {
            return Poll::Ready(());
        }
        let old_waker = register(&mut state.sender_waker, cx.waker());
        drop(state);
        drop(old_waker);
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if state.sender_done {
            return; // Already sent; `send` woke the receiver.
        }
        state.sender_done = true;
        let receiver_waker = state.receiver_waker.take();
        drop(state);
        if let Some(waker) = receiver_waker {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent, without waiting.
    ///
    /// [`TryRecvError::Closed`] means no value will ever come: the sender was dropped, the
    /// receiver was closed before a send, or the value was already taken.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.shared.lock();
        match state.value.take() {
            Some(value) => Ok(value),
            None if state.sender_done || state.receiver_closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses the value: `send` fails from now on and [`Sender::closed`] resolves. A value
    /// sent before the close can still be taken with `try_recv` or `.await`.
    pub fn close(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_closed = true;
        let sender_waker = state.sender_waker.take();
        drop(state);
        if let Some(waker) = sender_waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    /// Resolves to the value, or to [`RecvError`] if none will come (sender dropped unsent, or
    /// receiver closed before a send). Polling again after that yields `RecvError`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.lock();
        let ready = state.value.is_some() || state.sender_done || state.receiver_closed;
        // A reply that is already in is ready by default: a request/reply loop answered at once
        // must still spend the task's budget (see `task::coop`), as an `mpsc` receive does.
        if ready {
            drop(state);
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            state = self.shared.lock();
        }
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        if state.sender_done || state.receiver_closed {
            return Poll::Ready(Err(RecvError(())));
        }
        let old_waker = register(&mut state.receiver_waker, cx.waker());
        drop(state);
        drop(old_waker);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_closed = true;
        let unreceived = state.value.take();
        let sender_waker = state.sender_waker.take();
        let receiver_waker = state.receiver_waker.take();
        drop(state);
        drop(unreceived);
        drop(receiver_waker);
        if let Some(waker) = sender_waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
