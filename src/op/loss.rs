//! [`LossFlag`]: how a byte stream stays in order when its reads or writes are cancelled.
//!
//! Cancelling an io_uring op is a race: a `recv` whose future was dropped may still take bytes
//! from the socket, a `send` may still put bytes on the wire, and nobody will see either result.
//! Each direction of a stream has one flag. An op of that direction carries a [`LossWatch`]:
//!
//! * when the op's future is dropped in flight, the watch starts *settling* the flag: until the
//!   op's final completion, nobody knows whether bytes moved;
//! * when a completion of the abandoned op reports bytes moved, the flag is set for good;
//! * when the abandoned op's data is freed (after its final completion) the settling ends.
//!
//! The watch is not the op's business: [`Tracked`] wraps the op's data with it, so the eight
//! stream ops (receives, sends, fixed-buffer reads and writes, zero-copy send, the multishot
//! receive) stay the same ops a datagram socket runs untracked. [`LossFlag::guard`] is the one
//! place a stream's op of one direction is started: wait, then run the op tracked.
//!
//! The stream's next op of that direction first waits for [`LossFlag::ready`]: no abandoned op
//! still settling, and no loss recorded. Without the wait, a read dropped right after its first
//! poll (its entry queued, not yet submitted) would still run in the next batch, *together with*
//! the next read: the dropped one takes the waiting bytes, the next one returns later bytes, and
//! the gap is silent. With it, the next op either runs in order or fails saying why.
//!
//! Only the runtime that ran the abandoned op can reap its final completion. If the stream is
//! used in another runtime while that one is alive but not running (a read timed out in runtime
//! A, then the stream moved to runtime B), waiting would never end: the next op fails at once
//! instead, saying so, and works again once the first runtime is dropped (which finishes the
//! abandoned op) or runs again.

use super::guard::Guard;
use super::Op;
use crate::buf::BufResult;
use crate::driver::opcode::{CqeResult, Interest, Multishot, Oneshot, OpCode, Owner, Performed};
use crate::driver::{self, DriverCell};
use io_uring::squeue;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

/// One direction of a byte stream: whether cancelled ops lost bytes, and whether some still may.
#[derive(Clone, Debug, Default)]
pub(crate) struct LossFlag(Rc<LossState>);

#[derive(Default)]
struct LossState {
    /// Bytes moved for an op nobody awaited: set for good, and every later op of this
    /// direction fails (a stream with a silent gap would be worse than a broken one).
    lost: Cell<bool>,
    /// Abandoned ops of this direction whose final completion has not been reaped.
    settling: Cell<u32>,
    /// Set while `settling` is not 0 (the rare slow path), boxed so that the flag of every idle
    /// stream stays small; a `Cell` (taken out, changed, put back) rather than a `RefCell`,
    /// whose borrow count would add 8 B to every stream's two flags.
    slow: Cell<Option<Box<Settling>>>,
    /// The direction's last op took less than it was offered (a read: the socket is probably
    /// empty now). Only a hint for how the next op is submitted (see `op/recv.rs`).
    drained: Cell<bool>,
}

impl std::fmt::Debug for LossState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LossState")
            .field("lost", &self.lost.get())
            .field("settling", &self.settling.get())
            .field("drained", &self.drained.get())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Settling {
    /// Ops waiting for `settling` to reach 0.
    waiters: Vec<Waker>,
    /// The runtime the latest abandoned op was submitted to: only its loop can finish the op,
    /// so waiting for it anywhere else would never end.
    owner: Weak<DriverCell>,
}

impl LossFlag {
    /// Records that bytes went missing: every later op of this direction fails.
    pub(crate) fn set(&self) {
        self.0.lost.set(true);
    }

    #[cfg(test)]
    fn is_set(&self) -> bool {
        self.0.lost.get()
    }

    /// Whether the direction's last op took less than it was offered (see
    /// [`set_drained`](LossFlag::set_drained)).
    #[inline]
    pub(crate) fn drained(&self) -> bool {
        self.0.drained.get()
    }

    /// Records whether the op that just completed took less than it was offered: for a read,
    /// that the socket is probably empty now (a hint for the next read, see `op/recv.rs`).
    #[inline]
    pub(crate) fn set_drained(&self, drained: bool) {
        self.0.drained.set(drained);
    }

    /// What an op of this direction carries, to report back if it is abandoned.
    #[inline]
    pub(crate) fn watch(&self) -> LossWatch {
        LossWatch {
            flag: self.clone(),
            settling: false,
            oneshot: false,
        }
    }

    /// Waits until no abandoned op of this direction is in flight, then fails if one lost bytes.
    /// `direction` ("read" or "write") goes into the error message.
    pub(crate) fn ready(&self, direction: &'static str) -> Ready<'_> {
        Ready {
            flag: self,
            direction,
        }
    }

    /// [`ready`](LossFlag::ready) as a poll function, for hand-written futures and streams.
    /// Every read and write of a stream asks this first: the clean case is two loads, inlined.
    #[inline]
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        direction: &'static str,
    ) -> Poll<io::Result<()>> {
        let state = &*self.0;
        if state.settling.get() == 0 && !state.lost.get() {
            return Poll::Ready(Ok(()));
        }
        self.poll_ready_slow(cx, direction)
    }

    #[cold]
    fn poll_ready_slow(
        &self,
        cx: &mut Context<'_>,
        direction: &'static str,
    ) -> Poll<io::Result<()>> {
        let state = &*self.0;
        if state.settling.get() > 0 {
            let mut slow = state.slow.take().unwrap_or_default();
            let here = slow
                .owner
                .upgrade()
                .is_some_and(|owner| driver::is_current(&owner));
            if here && !slow.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                slow.waiters.push(cx.waker().clone());
            }
            state.slow.set(Some(slow));
            return match here {
                true => Poll::Pending,
                false => Poll::Ready(Err(elsewhere(direction))),
            };
        }
        if state.lost.get() {
            return Poll::Ready(Err(lost(direction)));
        }
        Poll::Ready(Ok(()))
    }

    fn settled_one(&self) {
        let state = &*self.0;
        let left = state.settling.get().saturating_sub(1);
        state.settling.set(left);
        if left == 0 {
            // Taken out first: waking only queues tasks, but no borrow is held across it anyway.
            let slow = state.slow.take();
            for waker in slow.map(|slow| slow.waiters).unwrap_or_default() {
                waker.wake();
            }
        }
    }
}

/// Future of [`LossFlag::ready`].
#[derive(Debug)]
pub(crate) struct Ready<'a> {
    flag: &'a LossFlag,
    direction: &'static str,
}

impl Future for Ready<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flag.poll_ready(cx, self.direction)
    }
}

/// An op's link to its stream's [`LossFlag`]. See the module docs.
#[derive(Debug)]
pub(crate) struct LossWatch {
    flag: LossFlag,
    /// This op was abandoned and counted in the flag's `settling`; its `Drop` (when the op
    /// data is freed, after the final completion) takes the count back.
    settling: bool,
    /// The watched op is single-shot: a completion of it flagged `F_MORE` (a zero-copy send's
    /// result, with only the notification to follow) is its whole byte count, so whether bytes
    /// moved is settled there; the notification, which a peer that stopped reading can hold
    /// back for ever, then holds no later op back. (A multishot op's `F_MORE` means more
    /// items.) Kept here, beside `settling`, rather than in `Tracked`, where its padding made
    /// every tracked op (and the read future of every idle connection) 8 B larger.
    oneshot: bool,
}

impl LossWatch {
    /// The op's future was dropped in flight: hold the direction's next op back until the op's
    /// data (and with it this watch) is freed after the final completion.
    /// `owner` is the runtime the op was submitted to, not the one current now: a future may
    /// be dropped outside its runtime, or while another one runs.
    pub(crate) fn abandoned(&mut self, owner: &Owner) {
        if !self.settling {
            self.settling = true;
            let state = &*self.flag.0;
            state.settling.set(state.settling.get() + 1);
            let mut slow = state.slow.take().unwrap_or_default();
            slow.owner = owner.clone();
            state.slow.set(Some(slow));
        }
    }

    /// The abandoned op's result is known (a zero-copy send whose buffer the kernel still
    /// holds): whether bytes moved is settled, so later ops need not wait for the buffer.
    pub(crate) fn settle(&mut self) {
        if std::mem::take(&mut self.settling) {
            self.flag.settled_one();
        }
    }

    /// A completion of the abandoned op: if it moved bytes, they are lost to the stream.
    pub(crate) fn record(&self, cqe: &CqeResult) {
        if matches!(cqe.result, Ok(1..)) {
            self.flag.set();
        }
    }
}

impl Drop for LossWatch {
    fn drop(&mut self) {
        if self.settling {
            self.flag.settled_one();
        }
    }
}

impl LossFlag {
    /// Starts an op of this direction the way every stream op starts: waits for
    /// [`ready`](LossFlag::ready) (failing with the buffer handed back), then runs the op that
    /// `make` builds from the buffer, [`Tracked`] by this flag. `make` may refuse the buffer
    /// with an error of its own (a buffer that is not registered, for a fixed-buffer op).
    ///
    /// A hand-written future rather than an `async fn`: on the common path (a clean flag) its
    /// first poll builds and polls the op at once, and the future is no bigger than the op plus
    /// what waiting needs (the op replaces the buffer and `make` in the same place).
    #[inline]
    pub(crate) fn guard<T, R, B, F>(
        &self,
        direction: &'static str,
        buf: B,
        make: F,
    ) -> Guard<'_, T, B, F>
    where
        T: Oneshot<Output = BufResult<R, B>>,
        F: FnOnce(B) -> Result<T, (io::Error, B)>,
    {
        Guard::new(self, direction, buf, make)
    }

    /// `data` as an op tracked by this flag, for callers that waited for
    /// [`poll_ready`](LossFlag::poll_ready) themselves.
    #[inline]
    pub(crate) fn track<T: Oneshot>(&self, data: T) -> Op<Tracked<T>> {
        Op::new(Tracked {
            data,
            watch: LossWatch {
                flag: self.clone(),
                settling: false,
                oneshot: true,
            },
        })
    }

    /// `data`, a multishot receive, tracked by this flag (its items all carry bytes).
    pub(crate) fn track_stream<T: Multishot>(&self, data: T) -> Tracked<T> {
        Tracked {
            data,
            watch: self.watch(),
        }
    }
}

/// An op of a byte stream together with its direction's [`LossWatch`]: the op runs as it is,
/// and the watch learns when its future is dropped in flight and which of its later
/// completions moved bytes. See the module docs.
pub(crate) struct Tracked<T> {
    data: T,
    /// Its `oneshot` flag says what `F_MORE` means for this op.
    watch: LossWatch,
}

impl<T> Tracked<T> {
    /// The op's own data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }
}

// SAFETY: the entry is the wrapped op's own, pointing into `self.data`, which `self` owns and
// keeps as long (the wrapped op's `OpCode` contract, passed on); the watch is not in the entry.
unsafe impl<T: OpCode> OpCode for Tracked<T> {
    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        self.data.sqe()
    }

    #[inline]
    fn perform(&mut self) -> Performed {
        self.data.perform()
    }

    #[inline]
    fn blocking_fd(&self) -> Option<RawFd> {
        self.data.blocking_fd()
    }

    #[inline]
    fn readiness(&self) -> Option<(RawFd, Interest)> {
        self.data.readiness()
    }

    #[inline]
    fn dispose(&mut self, cqe: &CqeResult) {
        self.data.dispose(cqe);
        // A notification carries no byte count.
        if !cqe.is_notification() {
            self.watch.record(cqe);
            if self.watch.oneshot && cqe.has_more() {
                self.watch.settle();
            }
        }
    }

    #[inline]
    fn abandoned(&mut self, owner: &Owner) {
        self.data.abandoned(owner);
        self.watch.abandoned(owner);
    }

    #[inline]
    fn shut_down(&mut self) {
        self.data.shut_down();
    }
}

impl<T: Oneshot> Oneshot for Tracked<T> {
    type Output = T::Output;

    #[inline]
    fn complete(self, cqe: CqeResult) -> T::Output {
        self.data.complete(cqe)
    }
}

impl<T: Multishot> Multishot for Tracked<T> {}

fn lost(direction: &str) -> io::Error {
    io::Error::other(format!(
        "coring: an earlier {direction} on this TCP stream was cancelled after the kernel had \
         already moved bytes, so the byte stream has a gap; the stream can no longer {direction} \
         in order"
    ))
}

fn elsewhere(direction: &str) -> io::Error {
    io::Error::other(format!(
        "coring: an earlier {direction} on this socket was cancelled in another runtime, which \
         is not running, and only that runtime can finish it; run or drop that runtime first \
         (or keep the socket in one runtime)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(flag: &LossFlag, waker: &Waker) -> Poll<io::Result<()>> {
        flag.poll_ready(&mut Context::from_waker(waker), "read")
    }

    #[test]
    fn a_clean_flag_is_ready_at_once() {
        let flag = LossFlag::default();
        let waker = Waker::noop();
        assert!(matches!(poll(&flag, waker), Poll::Ready(Ok(()))));
        // A watch that was never abandoned holds nothing back.
        drop(flag.watch());
        assert!(matches!(poll(&flag, waker), Poll::Ready(Ok(()))));
    }

    #[test]
    fn an_abandoned_op_holds_the_next_one_until_its_data_goes() {
        // Inside a runtime: the one the op is abandoned in, and the one that waits.
        crate::block_on(async {
            let flag = LossFlag::default();
            let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
            let waker = Waker::from(counter.clone());
            let mut watch = flag.watch();
            watch.abandoned(&driver::current_weak());
            watch.abandoned(&driver::current_weak()); // idempotent
            assert!(poll(&flag, &waker).is_pending());
            assert!(poll(&flag, &waker).is_pending()); // registered once
            watch.record(&CqeResult::from_raw(-libc::ECANCELED, 0));
            drop(watch);
            assert_eq!(counter.0.load(Ordering::SeqCst), 1);
            assert!(matches!(poll(&flag, &waker), Poll::Ready(Ok(()))));
        });
    }

    #[test]
    fn an_op_abandoned_in_another_runtime_fails_the_next_one_at_once() {
        let flag = LossFlag::default();
        let mut watch = flag.watch();
        crate::block_on(async { watch.abandoned(&driver::current_weak()) });
        // That runtime is gone from this thread (it would finish the op when dropped; here the
        // watch outlives it): waiting in another one, or in none, would never end.
        let other = crate::block_on(async { poll(&flag, Waker::noop()) });
        let Poll::Ready(Err(err)) = other else {
            panic!("expected the other-runtime error");
        };
        assert!(err.to_string().contains("another runtime"), "{err}");
        // Settled, the flag is usable anywhere again.
        watch.settle();
        assert!(matches!(poll(&flag, Waker::noop()), Poll::Ready(Ok(()))));
        drop(watch);
        assert!(matches!(poll(&flag, Waker::noop()), Poll::Ready(Ok(()))));
    }

    #[test]
    fn bytes_moved_by_an_abandoned_op_fail_every_later_op() {
        let flag = LossFlag::default();
        let mut watch = flag.watch();
        watch.abandoned(&driver::current_weak());
        watch.record(&CqeResult::from_raw(5, 0));
        drop(watch);
        let Poll::Ready(Err(err)) = poll(&flag, Waker::noop()) else {
            panic!("expected the loss error");
        };
        assert!(err.to_string().contains("byte stream has a gap"), "{err}");
        assert!(flag.is_set());
    }

    #[test]
    fn two_abandoned_ops_settle_when_both_are_gone() {
        crate::block_on(async {
            let flag = LossFlag::default();
            let (mut a, mut b) = (flag.watch(), flag.watch());
            a.abandoned(&driver::current_weak());
            b.abandoned(&driver::current_weak());
            drop(a);
            assert!(poll(&flag, Waker::noop()).is_pending());
            drop(b);
            assert!(poll(&flag, Waker::noop()).is_ready());
        });
    }
}
