//! `MultiOp<T>`: a multishot operation (one submission, a completion per item) as a stream.
//!
//! It shares `Op`'s states and helpers (`op_future.rs`); what differs is that a completion
//! flagged `F_MORE` yields an item and leaves the op in flight.
//!
//! # The multishot hazards, and where each is handled
//!
//! * **The end comes unasked.** The kernel ends a multishot op with any completion that lacks
//!   `F_MORE`: an error, `ENOBUFS` when the provided-buffer group is empty, a cancel, or for no
//!   reason the caller can see. [`MultiOp::poll_next`] then returns that last result and the
//!   stream is done ([`MultiOp::is_done`]); the owner decides whether to arm a new one.
//!   Re-arming blindly in the driver could loop on an error, so it never does: the accept
//!   stream (`op/accept_multi.rs`) re-arms when its user polls again after the last result,
//!   an error included, as a plain accept loop would retry; the receive stream
//!   (`op/recv_multi.rs`) re-arms after `ENOBUFS` once buffers are back or after its own
//!   limit's cancel, and stops at end of file or an error that ends the receive. The driver
//!   counts streams the kernel ended with anything but a cancel or end of file
//!   (`multishot_rearms`, see `Uring::count_rearm`), whether or not the owner re-arms.
//! * **Results nobody takes.** The kernel posts as fast as data arrives; an owner that stops
//!   polling would let results (each holding a provided buffer or an accepted fd) pile up in
//!   the slot. [`MultiOp::with_limit`] caps them: at the limit the driver cancels the op, the
//!   queued results stay deliverable, and the stream ends.
//! * **A dropped stream.** Its queued results are disposed of (fds closed, buffers given back)
//!   and the slot keeps the data until the kernel's final completion, which may come much
//!   later (a cancel racing an arriving item).
//! * **Readiness backend.** There is no multishot syscall: each poll performs one non-blocking
//!   call and reports it as an item flagged `F_MORE`, so the owner's code is the same.
//!
//! # Why a stream type of its own
//!
//! A multishot op cannot be an `Op` that resolves more than once: `Future` gives one output,
//! and the slot of a multishot op is a different state (`Lifecycle::Streaming`, with a queue
//! of results) that a single-shot poll must never meet. So the op kinds are split at the type
//! level (`Oneshot` vs `Multishot` in `opcode.rs`) and each has its own future; what they
//! share (the states, the first poll, the in-flight poll, the readiness attempt, the drop)
//! lives in `op_future.rs`.
//!
//! `poll_next` takes a closure rather than returning the raw completion because a result may
//! only mean something with the op's data at hand (a buffer id is an index into the op's
//! buffer ring), and the data must not leave the future while the op is in flight.

use super::cancel_scope;
use super::op_future::{abandon, perform, poll_in_flight, start, taken, Stage, Started, Step};
use super::opcode::{unsupported_on_epoll, CqeResult, Multishot};
use std::rc::Rc;
use std::task::{Context, Poll};

/// A multishot operation as a stream of results; see [`Multishot`].
///
/// The stream ends after the completion without `F_MORE`. Dropping it mid-stream abandons the
/// data to the driver, which disposes of any further results and frees it at the final one.
pub(crate) struct MultiOp<T: Multishot> {
    /// What the op works on; `None` only in `Stage::Done` (dropped with the stream's end, or
    /// handed to the driver by a drop). Never moved while the kernel may point into it.
    data: Option<T>,
    /// Where the stream is (see [`Stage`]). `Offloaded` never occurs: no multishot op runs a
    /// blocking call. `Done` once the last result was handed out.
    stage: Stage,
    /// Results that may wait untaken before the driver cancels the op (see `Lifecycle`).
    /// A u32 (`u32::MAX`: no limit) keeps every armed receive of an idle reader small.
    max_waiting: u32,
    /// A cancelling scope asked the kernel to end the stream (see `cancel_scope.rs`).
    cancel_sent: bool,
    /// Readiness backend: `cancel` was called, so the stream ends with `ECANCELED` when next
    /// polled (nothing is pending in the kernel to deliver first). A `Cell` because `cancel`
    /// takes `&self` (the receive stream's buffer limit, `op/recv_multi.rs`, calls it
    /// through a shared reference).
    stop: std::cell::Cell<bool>,
}

// As for `Op`: the kernel points at heap memory owned by `T`, never at the future itself.
impl<T: Multishot> Unpin for MultiOp<T> {}

impl<T: Multishot> MultiOp<T> {
    /// A stream on `data`, unsubmitted until first polled, with no limit on waiting results.
    pub(crate) fn new(data: T) -> Self {
        MultiOp {
            data: Some(data),
            stage: Stage::Unsubmitted,
            max_waiting: u32::MAX,
            cancel_sent: false,
            stop: std::cell::Cell::new(false),
        }
    }

    /// Like `new`, but once `max_waiting` results wait untaken the driver cancels the op; the
    /// results still come, then the stream ends (with `ECANCELED` unless it ended first).
    /// At most `u32::MAX - 1`: `u32::MAX` is the field's "no limit".
    pub(crate) fn with_limit(data: T, max_waiting: usize) -> Self {
        MultiOp {
            data: Some(data),
            stage: Stage::Unsubmitted,
            max_waiting: max_waiting.min(u32::MAX as usize - 1) as u32,
            cancel_sent: false,
            stop: std::cell::Cell::new(false),
        }
    }

    /// Asks the kernel to end the stream; the results it already produced still come, then the
    /// stream ends. Nothing happens if it is not running.
    ///
    /// Cancelling keeps the stream: dropping it would also end the op, but its queued results
    /// would go to `dispose` instead of the owner (a receive's bytes lost).
    pub(crate) fn cancel(&self) {
        match &self.stage {
            Stage::InFlight { driver, index } => driver.borrow_mut().uring().cancel_stream(*index),
            Stage::Ready { .. } => self.stop.set(true),
            _ => {}
        }
    }

    /// Whether the stream was armed and has since ended (so a new one must be armed). Also true
    /// for a stream whose first poll failed before reaching the kernel.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// The next result, or `None` once the kernel ended the stream.
    ///
    /// The last completion comes out as `Some` before the `None`: it carries a result the
    /// owner must see (the final item, an error, `ENOBUFS`) to decide whether to arm a new
    /// stream, and [`MultiOp::is_done`] is already true when it does.
    ///
    /// Results go through `f` with the op's data, so the op can interpret them (say, map a buffer
    /// id to a pooled buffer).
    pub(crate) fn poll_next<R>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut T, CqeResult) -> R,
    ) -> Poll<Option<R>> {
        // As in `Op::poll`: the data stays in `self.data` while in flight, so a panic cannot
        // free it.
        if let Stage::InFlight { driver, index } = &self.stage {
            let polled = poll_in_flight(driver, *index, &mut self.cancel_sent, cx, |d, w, r| {
                let uring = d.uring();
                let polled = uring.slots_mut().poll_stream(*index, w, r);
                uring.count_rearm(&polled);
                polled
            });
            return match polled {
                Poll::Ready(Some((cqe, last))) => {
                    // Only the last result can be the cancel's `ECANCELED`; items before it are
                    // real results and pass as they are.
                    let cqe = if self.cancel_sent && last {
                        cancel_scope::after_cancel(cqe)
                    } else {
                        cqe
                    };
                    let item = f(taken(self.data.as_mut()), cqe);
                    if last {
                        self.end();
                    }
                    Poll::Ready(Some(item))
                }
                Poll::Ready(None) => {
                    self.end();
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            };
        }
        // Readiness backend: one syscall per poll stands in for one kernel completion. There is
        // no queue of results here (the syscall runs only when the owner asks for the next
        // one), so the limit and the cap have nothing to do: an owner that stops polling stops
        // receiving, which is exactly what the limit achieves on io_uring.
        if let Stage::Ready { driver } = &self.stage {
            let data = taken(self.data.as_mut());
            let cqe = if self.stop.get() {
                CqeResult::from_raw(-libc::ECANCELED, 0)
            } else {
                match perform(driver, data, cx) {
                    Step::Done(cqe) => cqe,
                    Step::Pending => return Poll::Pending,
                    // No multishot op calls a blocking syscall.
                    Step::Offload(_) => unsupported_on_epoll("a blocking multishot operation"),
                }
            };
            let last = !cqe.has_more();
            let item = f(data, cqe);
            if last {
                self.end();
            }
            return Poll::Ready(Some(item));
        }
        if matches!(self.stage, Stage::Done) {
            return Poll::Ready(None);
        }
        // The first poll.
        let data = taken(self.data.as_mut());
        if cancel_scope::requested() {
            let item = f(data, CqeResult::from_error(cancel_scope::timed_out()));
            self.end();
            return Poll::Ready(Some(item));
        }
        match start(data, true, cx.waker()) {
            Started::Ready(driver) => {
                self.stage.start_as(Stage::Ready { driver });
                self.poll_next(cx, f)
            }
            Started::InFlight(driver, index) => {
                // `InFlight` first, then anything else: from here a drop hands the data over.
                self.stage.start_as(Stage::InFlight { driver, index });
                if let Stage::InFlight { driver, index } = &self.stage {
                    // Before this poll returns, so before any dispatch can queue a result
                    // under no limit (see `Lifecycle::set_limit`).
                    if self.max_waiting != u32::MAX {
                        driver
                            .borrow_mut()
                            .uring()
                            .limit_stream(*index, self.max_waiting as usize);
                    }
                    cancel_scope::track(driver, *index);
                }
                Poll::Pending
            }
            Started::Failed(err) => {
                let item = f(data, CqeResult::from_error(err));
                self.end();
                Poll::Ready(Some(item))
            }
        }
    }

    /// The stream is over: nothing points into the data any more, so it goes now (a receive
    /// stream's data may hold a buffer ring, which should not wait for the future's drop).
    fn end(&mut self) {
        drop(self.stage.take_driver());
        self.data = None;
    }
}

/// Only an in-flight stream needs the driver: on the readiness backend nothing is in the kernel
/// between polls, and an unsubmitted or finished stream's data is plain memory.
impl<T: Multishot> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let Stage::InFlight { driver, index } = std::mem::replace(&mut self.stage, Stage::Done) {
            let mut data = taken(self.data.take());
            data.abandoned(&Rc::downgrade(&driver));
            abandon(&driver, index, Box::new(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::op_future::{Op, Stage};
    use super::MultiOp;
    use crate::op::{recv::Recv, recv_multi::RecvMulti};
    use std::mem::size_of;

    /// Every armed read of an idle connection is one of these futures: what an op adds to its
    /// data is paid per connection. The stage is a tag and two words (the blocking pool's call
    /// is boxed); with `cancel_sent` and padding an op is its data plus 32 B (136 B for a `Vec`
    /// receive before the call was boxed), a stream its data plus 32 B (64 B before).
    #[test]
    fn an_op_future_is_its_data_and_four_words() {
        assert_eq!(size_of::<Stage>(), 24);
        let op = size_of::<Op<Recv<Vec<u8>>>>();
        assert!(
            op <= size_of::<Recv<Vec<u8>>>() + 32,
            "Op<Recv<Vec>> is {op} B"
        );
        let stream = size_of::<MultiOp<RecvMulti>>();
        assert!(
            stream <= size_of::<RecvMulti>() + 32,
            "MultiOp<RecvMulti> is {stream} B"
        );
    }
}
