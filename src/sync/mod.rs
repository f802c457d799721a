//! Channels for tasks to talk to each other, shaped like tokio's.
//!
//! * [`mpsc`]: many senders, one receiver, values in order; bounded ([`mpsc::channel`], with
//!   back-pressure) or unbounded ([`mpsc::unbounded_channel`]).
//! * [`oneshot`]: exactly one value, typically a reply.
//!
//! The channels do not depend on the runtime: they work between tasks on the same core, across
//! cores, and with plain threads, as long as the payload is `Send` when it crosses threads.
//! Each channel is a small mutex-guarded state plus the wakers of whoever waits; wakers are
//! always woken after the mutex is released, so waking never runs into the lock.
//!
//! ```
//! use coring::sync::{mpsc, oneshot};
//!
//! // A tiny service: requests carry a oneshot sender for their reply.
//! coring::block_on(async {
//!     let (requests, mut inbox) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(8);
//!     coring::spawn(async move {
//!         while let Some((n, reply)) = inbox.recv().await {
//!             let _ = reply.send(n * 2);
//!         }
//!     });
//!     let (reply_tx, reply_rx) = oneshot::channel();
//!     requests.send((21, reply_tx)).await.unwrap();
//!     assert_eq!(reply_rx.await, Ok(42));
//! });
//! ```

pub mod mpsc;
pub mod oneshot;
