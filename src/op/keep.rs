//! [`Kept`]: results of cancelled receives and accepts, kept for the next one.
//!
//! A datagram or a connection is a whole unit: unlike bytes of a stream, one that the kernel
//! delivered to an op whose future was dropped can be handed to the *next* receive (or accept)
//! intact. The op carries a [`KeepWatch`]; when its future is dropped in flight, every result
//! it still gets goes into the socket's queue instead of being thrown away (a datagram copied
//! out of the op's buffer, an accepted fd as it is).
//!
//! Order is kept as with [`LossFlag`]: the socket's next receive first waits until no abandoned
//! op is still in flight, then takes the oldest kept result before asking the kernel for more.
//! (The flag here only settles; nothing ever marks it lost.)
//!
//! # Why the next op waits
//!
//! Without the wait, a receive dropped right after its first poll (its entry pushed, not yet
//! submitted) would run in the next batch together with the socket's next receive, and the
//! datagram it took would be queued *after* the one the next receive returns: the order in
//! which the kernel delivered them would be lost. Waiting until the abandoned op's data is
//! dropped (after its final completion, when every result it had is queued) keeps it.
//!
//! # Who holds what
//!
//! The socket holds the [`Kept`] queue; each op carries a [`KeepWatch`] sharing the queue, so
//! the driver can fill it from `dispose` after the socket itself was dropped. A kept
//! connection nobody takes is closed when the last of them goes (`OwnedFd`'s drop), so a
//! cancelled accept never leaks an fd; a kept datagram is freed likewise.

use super::loss::{LossFlag, LossWatch};
use crate::driver::opcode::{CqeResult, Owner};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A datagram that arrived for a receive whose future was dropped: its bytes (as far as that
/// receive's buffer held them) and, if the receive asked, its sender.
#[derive(Debug)]
pub(crate) struct Datagram {
    /// Copied out of the receive's buffer (which goes with the op data): at most that buffer's
    /// size, so a datagram larger than it was truncated by the kernel, as it would have been
    /// for the receive itself.
    pub(crate) bytes: Vec<u8>,
    /// The sender, if the receive learnt it (`recv_from`) or the socket is connected.
    pub(crate) from: Option<SocketAddr>,
}

/// A connection accepted for an accept whose future was dropped, with its peer's address
/// when the accept asked for it.
pub(crate) type Connection = (OwnedFd, Option<SocketAddr>);

/// What a receive does with results that arrive after its future was dropped.
#[derive(Debug)]
pub(crate) enum Leftover {
    /// Bytes of a stream cannot be handed back: they are lost, which the op's wrapper records
    /// (see `loss.rs`, `Tracked`). Also what a stream receive checks to know it is one (the
    /// hint it gives the readiness backend, `op/recv.rs`).
    Stream,
    /// A datagram is kept for the socket's next receive; the address is its sender when the
    /// op cannot tell (a plain receive on a connected socket: the peer).
    Datagram(KeepWatch<Datagram>, Option<SocketAddr>),
}

impl Leftover {
    /// The receive's future was dropped in flight.
    pub(crate) fn abandoned(&mut self, owner: &Owner) {
        match self {
            Leftover::Stream => {}
            Leftover::Datagram(keep, _) => keep.abandoned(owner),
        }
    }

    /// A completion of the abandoned receive; `copy_out` gives the bytes the kernel wrote and
    /// the sender, and is called only for a datagram to keep. Every success is kept, an empty
    /// one too (a zero-length datagram is a datagram, not an end of file); an error, the
    /// cancel's `ECANCELED` included, kept nothing.
    pub(crate) fn dispose(&self, cqe: &CqeResult, copy_out: impl FnOnce(usize) -> Datagram) {
        match self {
            Leftover::Stream => {}
            Leftover::Datagram(keep, peer) => {
                if let Ok(n) = cqe.result {
                    let mut datagram = copy_out(n as usize);
                    datagram.from = datagram.from.or(*peer);
                    keep.keep(datagram);
                }
            }
        }
    }
}

/// Results that arrived for abandoned ops of one socket. See the module docs.
#[derive(Debug)]
pub(crate) struct Kept<T> {
    /// Counts the abandoned ops still in flight, reusing `LossFlag`'s settling logic (wait for
    /// them; fail at once if their runtime is not the one running). Never set lost: a kept
    /// result is handed over whole, so nothing goes missing.
    settle: LossFlag,
    /// Results of abandoned ops, oldest first; shared with every op's [`KeepWatch`]. An `Rc`
    /// because the ops' data outlives the socket's borrow (it may sit in a driver slot).
    items: Rc<RefCell<VecDeque<T>>>,
}

// Not derived: a derive would ask `T: Default`, which fds and datagrams are not.
impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept {
            settle: LossFlag::default(),
            items: Rc::default(),
        }
    }
}

impl<T> Kept<T> {
    /// What an op carries, to keep its results if it is abandoned. One per op: each counts
    /// itself in the settling count only if its own future is dropped in flight.
    pub(crate) fn watch(&self) -> KeepWatch<T> {
        KeepWatch {
            watch: self.settle.watch(),
            items: self.items.clone(),
        }
    }

    /// Waits until no abandoned op is in flight, then takes the oldest kept result, if any.
    /// Fails at once if an abandoned op belongs to another runtime that is not running.
    pub(crate) fn poll_take(
        &self,
        cx: &mut Context<'_>,
        what: &'static str,
    ) -> Poll<io::Result<Option<T>>> {
        self.settle
            .poll_ready(cx, what)
            .map_ok(|()| self.items.borrow_mut().pop_front())
    }

    /// [`poll_take`](Kept::poll_take) as a future, for callers in an `async fn`.
    pub(crate) async fn take(&self, what: &'static str) -> io::Result<Option<T>> {
        std::future::poll_fn(|cx| self.poll_take(cx, what)).await
    }
}

/// An op's link to its socket's [`Kept`] queue, part of the op data.
#[derive(Debug)]
pub(crate) struct KeepWatch<T> {
    /// Holds the socket's next op back from when the op is abandoned until its data is
    /// dropped (after the final completion): results arriving meanwhile go ahead of it.
    watch: LossWatch,
    /// The socket's queue. A `RefCell` borrowed only for a push or a pop, never across a call
    /// out, so `keep` (run by the driver from `dispose`) cannot find it borrowed.
    items: Rc<RefCell<VecDeque<T>>>,
}

impl<T> KeepWatch<T> {
    /// The op's future was dropped in flight: later receives wait until its data is freed.
    pub(crate) fn abandoned(&mut self, owner: &Owner) {
        self.watch.abandoned(owner);
    }

    /// Keeps a result of the abandoned op for the socket's next receive.
    pub(crate) fn keep(&self, item: T) {
        self.items.borrow_mut().push_back(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn take(kept: &Kept<u32>) -> Poll<io::Result<Option<u32>>> {
        kept.poll_take(&mut Context::from_waker(Waker::noop()), "receive")
    }

    #[test]
    fn results_of_an_abandoned_op_come_back_in_order_once_it_settles() {
        crate::block_on(async {
            let kept = Kept::default();
            assert!(matches!(take(&kept), Poll::Ready(Ok(None))));
            let mut watch = kept.watch();
            watch.abandoned(&crate::driver::current_weak());
            watch.keep(1);
            watch.keep(2);
            assert!(take(&kept).is_pending(), "taken before the op settled");
            drop(watch);
            assert!(matches!(take(&kept), Poll::Ready(Ok(Some(1)))));
            assert!(matches!(take(&kept), Poll::Ready(Ok(Some(2)))));
            assert!(matches!(take(&kept), Poll::Ready(Ok(None))));
        });
    }
}
