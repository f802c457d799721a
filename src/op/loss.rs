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
//!
//! # The states of one direction
//!
//! | `settling` | `lost` | the next op of the direction                  | left when               |
//! |------------|--------|-----------------------------------------------|-------------------------|
//! | 0          | no     | runs at once (the only state the hot path sees) | -                     |
//! | > 0        | no     | waits (fails at once in another runtime)      | the last watch settles  |
//! | > 0        | yes    | waits, then fails                             | the last watch settles  |
//! | 0          | yes    | fails: the stream has a gap                   | never                   |
//!
//! `settling` counts watches, not ops in the kernel: it goes up in [`LossWatch::abandoned`]
//! (called by the op future's `Drop` before the data moves to the driver's slot) and down when
//! the watch is dropped with the op data, which the driver does only after the final
//! completion, or earlier through [`LossWatch::settle`] once a zero-copy send's byte count is in.
//! A watch whose op completed normally was never counted, and its drop does nothing.
//!
//! Why fail rather than resynchronise: the bytes a dropped receive took are in its buffer,
//! which is freed with the op data; the bytes a dropped send sent are on the wire, with the
//! caller believing they were not. Either way the caller's view of the stream is wrong, and only
//! an error says so. Which ops can still lose bytes when dropped is their cancel-safety
//! section's business (`net/stream.rs`); this module only makes the loss loud.

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
///
/// A stream holds one per direction (`net/stream.rs`), so reads and writes settle apart: a
/// dropped read holds back the next read, never a write. Clones share the state: each op's
/// watch holds one, as the op data may outlive the stream in the driver's slot.
#[derive(Clone, Debug, Default)]
pub(crate) struct LossFlag(Rc<LossState>);

/// What a [`LossFlag`] shares among its clones: the stream, its ops' watches, and guards.
/// `Cell`s, not atomics: a stream and its ops live on one thread (the driver's slots are
/// per-runtime, and an op is dropped on the thread that polled it).
#[derive(Default)]
struct LossState {
    /// Bytes moved for an op nobody awaited: set for good, and every later op of this
    /// direction fails (a stream with a silent gap would be worse than a broken one).
    lost: Cell<bool>,
    /// Abandoned ops of this direction whose data the driver still holds (see the module docs
    /// for when it goes up and down). While above 0, no op of this direction starts.
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

/// The waiting side of a settling flag, allocated only while an abandoned op is in flight.
#[derive(Debug, Default)]
struct Settling {
    /// Ops waiting for `settling` to reach 0, each registered once (`will_wake`), all woken
    /// when it does.
    waiters: Vec<Waker>,
    /// The runtime the latest abandoned op was submitted to: only its loop can finish the op,
    /// so waiting for it anywhere else would never end. Only the latest is kept: two ops
    /// abandoned in two runtimes at once need two futures kept alive across runtimes, and then
    /// a waiter in the latest one's runtime also waits for the other's.
    owner: Weak<DriverCell>,
}

impl LossFlag {
    /// Records that bytes went missing: every later op of this direction fails. Also called
    /// by owners that drop bytes themselves: an adapter handing the stream back with bytes it
    /// buffered (`compat/stream_io.rs`), a `write_all` cut short (`io/traits.rs`).
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
    /// Kept here because the flag is already the per-direction state every op of the stream
    /// reaches; a wrong hint costs a wasted attempt or wait, never a lost byte.
    #[inline]
    pub(crate) fn set_drained(&self, drained: bool) {
        self.0.drained.set(drained);
    }

    /// What an op of this direction carries, to report back if it is abandoned. Not
    /// `oneshot`: for the multishot receive and for `keep.rs`'s queues, where `F_MORE` means
    /// more items to come (single-shot stream ops get theirs from `track`).
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

    /// The rare case: an abandoned op is in flight, or bytes were lost. A waiter registers only
    /// in the runtime that can finish the op: waiting in another (or in none) would hang, so
    /// it gets the `elsewhere` error instead. Bytes lost are reported only once every abandoned
    /// op settled, so that the error is final and the stream's state no longer changes.
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

    /// One abandoned op settled (its watch dropped or settled early): at 0, every waiter is
    /// woken, and the slow-path box is freed so an idle stream is small again. Saturating, so a
    /// miscount could only release waiters early, never hang them.
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

/// Future of [`LossFlag::ready`]: borrows the flag, so it holds no reference count.
#[derive(Debug)]
pub(crate) struct Ready<'a> {
    flag: &'a LossFlag,
    /// "read" or "write", for the error messages.
    direction: &'static str,
}

impl Future for Ready<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flag.poll_ready(cx, self.direction)
    }
}

/// An op's link to its stream's [`LossFlag`], part of the op data: it lives exactly as long as
/// the memory the kernel may still write, which is what makes its `Drop` the moment the op
/// settles. See the module docs.
#[derive(Debug)]
pub(crate) struct LossWatch {
    /// A clone: the op data may outlive the stream (kept by the driver after both are dropped).
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
    /// Idempotent: the watch's `Drop` then finds nothing to take back.
    pub(crate) fn settle(&mut self) {
        if std::mem::take(&mut self.settling) {
            self.flag.settled_one();
        }
    }

    /// A completion of the abandoned op: if it moved bytes, they are lost to the stream. Zero
    /// (end of file, an empty send) and errors (`ECANCELED`: the cancel won) lose nothing.
    /// The caller leaves out a zero-copy notification, whose `res` is no byte count.
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
    /// [`poll_ready`](LossFlag::poll_ready) themselves. The watch is `oneshot`: a completion
    /// flagged `F_MORE` can only be a zero-copy send's result, its whole byte count.
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

    /// `data`, a multishot receive, tracked by this flag. Its `F_MORE` means more items, not a
    /// notification to come, so the watch is not `oneshot`: it settles only when the stream's
    /// data goes, after the completion that ends the stream.
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
///
/// A wrapper rather than a field of each op: the same `Recv`, `Send` or `RecvMulti` serves a
/// datagram socket untracked, and the loss logic lives here once instead of in eight ops.
pub(crate) struct Tracked<T> {
    /// The wrapped op's own data: everything the entry points at.
    data: T,
    /// Its `oneshot` flag says what `F_MORE` means for this op.
    watch: LossWatch,
}

impl<T> Tracked<T> {
    /// The op's own data, for a multishot owner reading a completion (which ring a buffer id
    /// indexes).
    pub(crate) fn data(&self) -> &T {
        &self.data
    }
}

// SAFETY: the entry is the wrapped op's own, pointing into `self.data`, which `self` owns and
// keeps as long (the wrapped op's `OpCode` contract, passed on); the watch is not in the entry.
// Every method but `dispose` and `abandoned` passes straight through.
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

    /// The op disposes of what it holds first (a receive's ring buffer goes back), then the
    /// watch records whether bytes moved: the op cannot tell, as it serves untracked sockets too.
    #[inline]
    fn dispose(&mut self, cqe: &CqeResult) {
        self.data.dispose(cqe);
        // A notification carries no byte count. A single-shot op's `F_MORE` result is its
        // whole count (only the notification follows): settled here, not at the notification.
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

    /// A tracked zero-copy send must still be able to reset its connection at shutdown.
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

/// The error of every op after bytes went missing: `Other`, as no `ErrorKind` says "this
/// stream is out of step", and the message says why and that it is for good.
fn lost(direction: &str) -> io::Error {
    io::Error::other(format!(
        "coring: an earlier {direction} on this TCP stream was cancelled after the kernel had \
         already moved bytes, so the byte stream has a gap; the stream can no longer {direction} \
         in order"
    ))
}

/// The error of an op that would wait for an abandoned op of a runtime that is not running:
/// the message says which runtime can end it.
fn elsewhere(direction: &str) -> io::Error {
    io::Error::other(format!(
        "coring: an earlier {direction} on this socket was cancelled in another runtime, which \
         is not running, and only that runtime can finish it; run or drop that runtime first \
         (or keep the socket in one runtime)"
    ))
}

#[cfg(test)]
mod tests;
