//! Multi-producer, single-consumer channels: many senders, one receiver, values in order.
//!
//! * [`channel(capacity)`](channel) is bounded: at most `capacity` values wait in the queue, and
//!   [`Sender::send`] waits while it is full. That back-pressure keeps a fast producer from
//!   outrunning a slow consumer. Waiting senders are served first come, first served: a slot
//!   freed by the receiver goes to the sender that has waited longest, and a newcomer (or
//!   [`Sender::try_send`]) cannot jump the line.
//! * [`unbounded_channel()`](unbounded_channel) never waits: [`UnboundedSender::send`] is a plain
//!   function call. Use it when the producer is naturally limited, or from code that cannot wait.
//!
//! Senders are cheap to clone. [`Receiver::recv`] returns `None` once every sender is gone and
//! the queue is drained; dropping (or [`closing`](Receiver::close)) the receiver makes every
//! send fail with an error that gives the value back.
//!
//! Both ends work between tasks on one core and across threads and cores (the handles are
//! `Send` and `Sync` when `T: Send`); one small mutex guards each channel.
//!
//! ```
//! coring::block_on(async {
//!     let (tx, mut rx) = coring::sync::mpsc::channel(8);
//!     for id in 0..3 {
//!         let tx = tx.clone();
//!         coring::spawn(async move {
//!             tx.send(id).await.unwrap();
//!         });
//!     }
//!     drop(tx); // Otherwise `recv` would wait for this sender forever.
//!     let mut total = 0;
//!     while let Some(id) = rx.recv().await {
//!         total += id;
//!     }
//!     assert_eq!(total, 0 + 1 + 2);
//! });
//! ```
//!
//! # Cancellation
//!
//! Dropping a [`Sender::send`] future before it finishes drops its value unsent and gives up its
//! place in line; a slot already promised to it passes on to the next waiting sender.
//! [`Receiver::recv`] is cancel-safe: dropping it never loses a value.

mod chan;
pub mod error;

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chan::{Chan, SendStage};
use error::{SendError, TryRecvError, TrySendError};

/// Creates a bounded channel holding at most `capacity` queued values.
///
/// # Panics
///
/// If `capacity` is 0: a zero-capacity (rendezvous) channel is not supported; use 1 for the
/// closest behaviour.
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "mpsc::channel: capacity must be at least 1 (zero-capacity channels are not supported)"
    );
    let chan = Arc::new(Chan::new(Some(capacity)));
    let receiver = Receiver {
        handle: ReceiverHandle { chan: chan.clone() },
    };
    (
        Sender {
            handle: SenderHandle { chan },
        },
        receiver,
    )
}

/// Creates a channel without a bound: sends never wait, so memory grows if the receiver falls
/// behind.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Arc::new(Chan::new(None));
    let receiver = UnboundedReceiver {
        handle: ReceiverHandle { chan: chan.clone() },
    };
    (
        UnboundedSender {
            handle: SenderHandle { chan },
        },
        receiver,
    )
}

/// Sends values into a bounded channel. Clone it to get more senders.
pub struct Sender<T> {
    handle: SenderHandle<T>,
}

/// Sends values into an unbounded channel. Clone it to get more senders.
pub struct UnboundedSender<T> {
    handle: SenderHandle<T>,
}

/// Receives values from a bounded channel.
pub struct Receiver<T> {
    handle: ReceiverHandle<T>,
}

/// Receives values from an unbounded channel.
pub struct UnboundedReceiver<T> {
    handle: ReceiverHandle<T>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full.
    ///
    /// Fails, giving the value back, if the receiver is gone or closed, including while
    /// waiting. See the [module docs](self#cancellation) for what dropping this future does.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let chan = &*self.handle.chan;
        SendFuture {
            chan,
            value: Some(value),
            stage: SendStage::Idle,
        }
        .await
    }

    /// Sends `value` if a slot is free right now, without waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.handle.chan.try_send(value)
    }

    /// Whether the receiver is gone or closed, so every send will fail.
    pub fn is_closed(&self) -> bool {
        self.handle.chan.is_closed()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.handle
            .chan
            .capacity()
            .expect("a bounded channel has a capacity")
    }
}

impl<T> UnboundedSender<T> {
    /// Queues `value` without waiting; fails, giving the value back, if the receiver is gone
    /// or closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.handle
            .chan
            .try_send(value)
            .map_err(|error| SendError(error.into_inner()))
    }

    /// Whether the receiver is gone or closed, so every send will fail.
    pub fn is_closed(&self) -> bool {
        self.handle.chan.is_closed()
    }
}

/// The receiving API is the same for both flavours; this writes it once.
macro_rules! receiver_methods {
    ($receiver:ident) => {
        impl<T> $receiver<T> {
            /// Receives the next value, waiting for one if the queue is empty.
            ///
            /// Returns `None` once the queue is empty and every sender is gone (or the receiver
            /// was closed). Cancel-safe: dropping the future never loses a value.
            pub async fn recv(&mut self) -> Option<T> {
                poll_fn(|cx| self.poll_recv(cx)).await
            }

            /// Polls for the next value: `Ready(Some)` with a value, `Ready(None)` at the end of
            /// the stream, or `Pending` after arranging for `cx`'s waker to be woken.
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.handle.chan.poll_recv(cx)
            }

            /// Takes the next value if one is queued, without waiting.
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.handle.chan.try_recv()
            }

            /// Closes the channel: sends fail from now on (waiting ones too), while values
            /// already queued can still be received.
            pub fn close(&mut self) {
                self.handle.chan.close();
            }

            /// Whether no new value can arrive: the receiver was [`close`](Self::close)d or
            /// every sender is gone. Values may still be queued.
            pub fn is_closed(&self) -> bool {
                self.handle.chan.is_disconnected()
            }

            /// How many values are queued right now.
            pub fn len(&self) -> usize {
                self.handle.chan.len()
            }

            /// Whether no value is queued right now.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }

        impl<T> fmt::Debug for $receiver<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($receiver))
                    .finish_non_exhaustive()
            }
        }
    };
}

receiver_methods!(Receiver);
receiver_methods!(UnboundedReceiver);

/// Clone and Debug for both sender flavours (derive would wrongly require `T: Clone`).
macro_rules! sender_traits {
    ($sender:ident) => {
        impl<T> Clone for $sender<T> {
            fn clone(&self) -> Self {
                $sender {
                    handle: self.handle.clone(),
                }
            }
        }

        impl<T> fmt::Debug for $sender<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($sender)).finish_non_exhaustive()
            }
        }
    };
}

sender_traits!(Sender);
sender_traits!(UnboundedSender);

/// A counted reference to the channel: the last one dropped ends the stream for the receiver.
struct SenderHandle<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Clone for SenderHandle<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        SenderHandle {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for SenderHandle<T> {
    fn drop(&mut self) {
        self.chan.remove_sender();
    }
}

/// The receiver's reference to the channel; dropping it closes the channel.
struct ReceiverHandle<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Drop for ReceiverHandle<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

/// The waiting part of [`Sender::send`]; its `Drop` gives up the place in line.
struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    stage: SendStage,
}

// The value is only ever moved, never pinned in place, so the future can be `Unpin` whatever
// `T` is.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.chan.poll_send(&mut this.value, &mut this.stage, cx)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let SendStage::Waiting(ticket) = self.stage {
            self.chan.cancel_send(ticket);
        }
    }
}

#[cfg(test)]
mod tests;
