//! The send a dropped `BufWriter` call leaves in flight, and the future that parks it there.
//!
//! Over a writer that offers an [`OwnedSend`] (coring's streams), the buffer goes out in one:
//! the send owns the buffer and a clone of the socket, and is polled inside the flush's future
//! through [`Parking`]. If that future is dropped first (a `select!` took another branch), the
//! send is not: `Parking`'s `Drop` moves it into the writer (one allocation, only then), where it
//! stays in flight and the writer's next call takes its outcome (`BufWriter::settle`). The
//! kernel's pointers into the buffer stay valid throughout, as the op that owns the buffer is
//! never freed before its completion: kept by the writer, or, if the writer is dropped,
//! cancelled and kept by the driver like any dropped op.

use crate::buf::{BufResult, Slice};
use crate::io::CutShortMark;
use crate::net::OwnedSend;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A send that a dropped call left running; it holds the writer's buffer.
pub(super) struct Parked {
    /// The send, of the buffer's unsent part (`begin..end` of the slice: the bytes before
    /// `begin` went out earlier).
    pub(super) send: OwnedSend,
    /// The inner writer's cut-short mark, armed if part of the buffer went out before this
    /// send: given up (the writer turned [`into_inner`](super::BufWriter::into_inner) or dropped
    /// with the send unfinished), the send leaves the peer a cut-off message, so the inner
    /// writer fails its later writes. Disarmed when the outcome is taken.
    pub(super) mark: CutShortMark,
}

/// Polls `send` as part of the caller's future; dropped before it finishes, moves the send into
/// `slot` (with the mark, as the caller armed it) instead of cancelling it.
pub(super) struct Parking<'a> {
    slot: &'a mut Option<Box<Parked>>,
    /// `None` once finished.
    send: Option<OwnedSend>,
    mark: &'a mut CutShortMark,
}

impl<'a> Parking<'a> {
    pub(super) fn new(
        slot: &'a mut Option<Box<Parked>>,
        send: OwnedSend,
        mark: &'a mut CutShortMark,
    ) -> Self {
        Parking {
            slot,
            send: Some(send),
            mark,
        }
    }
}

impl Future for Parking<'_> {
    type Output = BufResult<usize, Slice<Vec<u8>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(send) = &mut this.send else {
            panic!("coring: a BufWriter send was polled after it completed");
        };
        let out = std::task::ready!(Pin::new(send).poll(cx));
        this.send = None;
        Poll::Ready(out)
    }
}

impl Drop for Parking<'_> {
    fn drop(&mut self) {
        if let Some(send) = self.send.take() {
            let mark = std::mem::take(self.mark);
            *self.slot = Some(Box::new(Parked { send, mark }));
        }
    }
}

#[cfg(test)]
mod tests;
