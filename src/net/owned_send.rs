//! [`OwnedSend`]: a stream send that owns its socket and its buffer, so it can outlive the call
//! that started it.
//!
//! A `TcpStream::write` future borrows the stream, so whoever awaits it cannot keep it once its
//! own future is dropped: the op is cancelled, and if the kernel had sent bytes anyway the
//! stream's writing direction is marked lost (`op/loss.rs`). An `OwnedSend` holds clones of the
//! socket and of that direction's flag instead, so its starter can keep it when the caller's
//! future goes and take its outcome later: [`BufWriter`](crate::io::BufWriter) parks the send of
//! a dropped flush this way, and its next call takes how much went out and the buffer back.
//! Otherwise it is `write`: it waits until the direction is ready, then sends tracked.

use crate::buf::{BufResult, Slice};
use crate::fd::SharedFd;
use crate::op::loss::{LossFlag, Tracked};
use crate::op::send::{send, Send};
use crate::op::Op;
use crate::task::coop;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// What the kernel reads: part of a `BufWriter`'s buffer.
type Data = Send<Slice<Vec<u8>>>;

/// A send of a `Vec<u8>`'s slice on a coring stream that owns the socket (a clone) and the
/// buffer, from [`AsyncWriteRent::send_owned`](crate::io::AsyncWriteRent::send_owned): a future
/// of how many bytes went out, with the buffer, as [`TcpStream::write`](super::TcpStream::write)
/// gives. It starts when first polled.
///
/// # Cancel safety
///
/// As `TcpStream::write`: dropped while in flight it is cancelled, and if the kernel had sent
/// bytes anyway every later write on the stream fails saying so. Kept rather than dropped (its
/// owner polls it again later, from any call), it loses nothing: that is what it is for.
///
/// # Runtimes
///
/// Once started, only the runtime it was first polled on can finish it (that runtime's ring
/// reaps its completion). Awaited on another runtime while the first is alive but not running,
/// it waits until the first runs again, so carry the send back rather than across; `BufWriter`
/// checks this itself and fails its call at once instead.
pub struct OwnedSend {
    /// The stream's writing direction (a clone): waited on before the send starts, and the
    /// send runs tracked by it.
    flag: LossFlag,
    state: State,
}

enum State {
    /// Not started: the direction may still be settling an op cancelled before this one.
    Waiting(Option<(SharedFd, Slice<Vec<u8>>)>),
    /// The send runs, tracked.
    Running(Op<Tracked<Data>>),
}

impl OwnedSend {
    /// A send of `buf` on `fd`, a stream whose writing direction is `flag`.
    pub(crate) fn new(fd: &SharedFd, flag: &LossFlag, buf: Slice<Vec<u8>>) -> OwnedSend {
        OwnedSend {
            flag: flag.clone(),
            state: State::Waiting(Some((fd.clone(), buf))),
        }
    }

    /// Whether the send was started on another runtime than the current one: only that
    /// runtime can finish it, so waiting for it here would hang while that one is not running.
    pub(crate) fn started_elsewhere(&self) -> bool {
        match &self.state {
            State::Running(op) => op.started_elsewhere(),
            State::Waiting(_) => false,
        }
    }

    /// The outcome, if it is known without waiting, for callers that cannot wait (a
    /// `BufWriter` given up with `into_inner`) or must not (a send another runtime started): a
    /// completion already reaped, or on the readiness backend one more non-blocking attempt.
    /// `None` if the send never started or is still in flight; dropping it then cancels it.
    pub(crate) fn try_finish(&mut self) -> Option<BufResult<usize, Slice<Vec<u8>>>> {
        if matches!(self.state, State::Waiting(_)) {
            return None;
        }
        let mut cx = Context::from_waker(Waker::noop());
        // A fresh budget: a task that spent its own must not make a finished send look
        // unfinished (and then be cancelled, its bytes counted as lost).
        match coop::budgeted(|| Pin::new(&mut *self).poll(&mut cx)) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        }
    }
}

impl Future for OwnedSend {
    type Output = BufResult<usize, Slice<Vec<u8>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let State::Waiting(start) = &mut this.state {
            let ready = std::task::ready!(this.flag.poll_ready(cx, "write"));
            let Some((fd, buf)) = start.take() else {
                panic!("coring: an OwnedSend was polled after it completed");
            };
            if let Err(err) = ready {
                return Poll::Ready((Err(err), buf));
            }
            this.state = State::Running(this.flag.track(send(&fd, buf)));
        }
        match &mut this.state {
            State::Running(op) => Pin::new(op).poll(cx),
            State::Waiting(_) => unreachable!("coring: started above"),
        }
    }
}

impl fmt::Debug for OwnedSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let started = matches!(self.state, State::Running(_));
        f.debug_struct("OwnedSend")
            .field("started", &started)
            .finish_non_exhaustive()
    }
}
