//! `Op<T>`: a single-shot operation as a future, over the [`OpCode`] contract (`opcode.rs`).
//!
//! An `Op` is created unsubmitted and touches nothing until first polled (so building one and
//! dropping it is free). The first poll builds the submission entry from the op's own data and
//! pushes it; the entry is submitted with the rest of the loop turn's batch. When the final
//! completion arrives the data and the result go to [`Oneshot::complete`], which hands buffers back.
//!
//! Dropped while in flight, an `Op` moves its data into the driver's slot, which keeps it alive
//! until the final completion (see `lifecycle.rs`), and asks the kernel to cancel.
//!
//! On the readiness backend (`epoll/`) the same futures call [`OpCode::perform`] instead: the
//! syscall runs at once, non-blocking, on the op's data; `EAGAIN` parks the future until epoll
//! says the fd is ready. The result goes to the same `complete`, so callers cannot tell.
//!
//! The stages, the readiness-backend attempt and the hand-over of dropped data are shared with
//! [`MultiOp`](super::multishot::MultiOp) (`multishot.rs`).
//!
//! # Why the data stays in the future while in flight
//!
//! The data stays in the future (`Op::data`, beside its [`Stage`]) and moves to the driver's
//! slot only if the future is dropped in flight (`abandon`), which is rare; tokio-uring does the
//! same with its `Ignored` lifecycle state. The slot holds only the waker and the result. The
//! common path (push, one poll that finds the result, complete) therefore moves the data once,
//! into `complete`, and allocates nothing: the boxing into `dyn Abandoned` happens only on drop.
//! The price is that the future must not free the data while in flight in any path, including a
//! panic during its own poll, which is why every path borrows the data where it lies until the
//! result is in hand, and why the stage says `InFlight` before anything runs after the push.
//!
//! # Cancel-on-drop
//!
//! `Drop` for an in-flight op hands the data to the slot and pushes an `ASYNC_CANCEL` (see
//! `SlotTable::abandon`); the cancel goes out with the next turn's batch, the kernel answers
//! both, and the slot disposes of whatever the op produced and frees the data at the final
//! completion. A drop never blocks and never waits for the kernel.

use super::opcode::{Abandoned, CqeResult, Oneshot, OpCode, Performed};
use super::{cancel_scope, Driver, DriverCell};
use crate::task::coop;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Where an op (single-shot or multishot) is. The op's data is not in here: it sits beside
/// the stage (`Op::data`, `MultiOp::data`) from the op's creation until its result is handed out,
/// so moving from one stage to the next writes these few words and never moves the data.
///
/// | stage         | data (beside it)   | the kernel / the pool holds  | a drop here                      |
/// |---------------|--------------------|------------------------------|----------------------------------|
/// | `Unsubmitted` | the future's       | nothing                      | frees the data                   |
/// | `InFlight`    | the future's       | pointers into the data       | hands it to the driver's slot    |
/// | `Ready`       | the future's       | nothing between polls        | frees the data                   |
/// | `Offloaded`   | the future's       | a pool thread runs the call  | keeps it until the call returns  |
/// | `Done`        | gone               | nothing                      | nothing                          |
///
/// Keeping the data out of the stage is also what makes the push safe against a panic: the
/// stage becomes `InFlight` right after the push and before anything else runs, and the data
/// never leaves the future meanwhile, so there is no moment when the kernel points into memory
/// that a drop would free.
pub(super) enum Stage {
    /// Built, never polled: no entry exists, so building and dropping an op costs nothing.
    Unsubmitted,
    /// io_uring: the entry was pushed into slot `index` of `driver`'s ring; the data stays in
    /// the future (not in the slot) until the future is dropped, so the hot path moves nothing.
    InFlight {
        /// The runtime whose ring holds the entry: only its loop reaps the completion.
        driver: Rc<DriverCell>,
        /// The op's slot, which holds its waker, then its result.
        index: usize,
    },
    /// Readiness backend: the op performs its syscall when polled (see the module docs).
    Ready {
        /// The runtime whose epoll instance wakes the op when its fd is ready.
        driver: Rc<DriverCell>,
    },
    /// Readiness backend: the op's call runs on the blocking pool, on pointers into the data.
    /// The data's heap memory is the call's until the job says done: the future may move (the
    /// heap parts do not), but nothing may read, write or free them meanwhile.
    Offloaded {
        /// The runtime that orphans the data if the future is dropped mid-call.
        driver: Rc<DriverCell>,
        /// The call (with its result once it returned), and the handle that completes when the
        /// pool thread is done with it. Boxed: only file calls on the readiness backend get
        /// here, and inline they would make every op future of every backend 16 B larger.
        call: Box<Offloaded>,
    },
    /// The result was handed out (or the stream ended): the data is gone.
    Done,
}

/// A file call running on the blocking pool (`Stage::Offloaded`).
pub(super) struct Offloaded {
    /// The call and, once it returned, its result.
    job: std::sync::Arc<super::epoll::Job>,
    /// Completes when the pool thread is done with the call.
    handle: crate::task::BlockingHandle<()>,
}

impl Stage {
    /// Sets `Done` and hands out the runtime the op was started on, if it was (`Offloaded`'s job
    /// and handle are dropped here). A match on the stage taken out, not an assignment, so the
    /// hot path (`InFlight`) drops one `Rc` inline instead of calling the enum's drop glue.
    #[inline]
    pub(super) fn take_driver(&mut self) -> Option<Rc<DriverCell>> {
        match std::mem::replace(self, Stage::Done) {
            Stage::InFlight { driver, .. } | Stage::Ready { driver } => Some(driver),
            Stage::Offloaded { driver, .. } => Some(driver),
            Stage::Unsubmitted | Stage::Done => None,
        }
    }

    /// Leaves `Unsubmitted` for `next` without running drop glue for a value that owns
    /// nothing (a call per submitted op otherwise).
    #[inline]
    pub(super) fn start_as(&mut self, next: Stage) {
        let before = std::mem::replace(self, next);
        debug_assert!(matches!(before, Stage::Unsubmitted));
        std::mem::forget(before);
    }

    /// The runtime the op was started on, if it was.
    fn driver(&self) -> Option<&Rc<DriverCell>> {
        match self {
            Stage::InFlight { driver, .. }
            | Stage::Ready { driver }
            | Stage::Offloaded { driver, .. } => Some(driver),
            Stage::Unsubmitted | Stage::Done => None,
        }
    }
}

/// A single-shot operation as a future. See the module docs.
pub(crate) struct Op<T: Oneshot> {
    /// What the op works on; `None` only in `Stage::Done` (handed out with the result, or to the
    /// driver by a drop). Never moved while the kernel or a pool thread may point into it.
    data: Option<T>,
    /// Where the op is (see [`Stage`]); only `poll` and `drop` change it.
    stage: Stage,
    /// A cancelling scope asked the kernel to cancel this op (see `cancel_scope.rs`).
    cancel_sent: bool,
}

// The kernel points at heap memory owned by `T`, never at `T` itself, so moving the future is fine.
// That is the `OpCode` contract (`opcode.rs`), and why no op needs `Pin` projections: an op
// whose entry pointed into its own struct (an inline `sockaddr`) would break it, which is why
// such fields live in `op/heap.rs`'s `Heap` boxes.
impl<T: Oneshot> Unpin for Op<T> {}

impl<T: Oneshot> Op<T> {
    /// An op on `data`, unsubmitted until first polled.
    pub(crate) fn new(data: T) -> Self {
        Op {
            data: Some(data),
            stage: Stage::Unsubmitted,
            cancel_sent: false,
        }
    }

    /// Whether the op was started on a runtime other than the current one (also true when no
    /// runtime is current now): only that runtime's loop can finish it, so a caller here must
    /// not wait for it while that runtime is not running. For ops kept across calls
    /// (`net::OwnedSend`).
    pub(crate) fn started_elsewhere(&self) -> bool {
        self.stage
            .driver()
            .is_some_and(|driver| !super::is_current(driver))
    }

    /// Ends the op with `cqe`: the stage becomes `Done` (letting go of the runtime) and the
    /// data goes to `complete` with the result. Only once nobody else points into the data.
    #[inline]
    fn finish(&mut self, cqe: CqeResult) -> T::Output {
        drop(self.stage.take_driver());
        let data = taken(self.data.take());
        data.complete(cqe)
    }
}

/// The data of an op that is not `Done`: there always is some (see `Op::data`).
#[inline]
pub(super) fn taken<T>(data: Option<T>) -> T {
    data.unwrap_or_else(|| panic!("coring: an operation future was polled after it completed"))
}

impl<T: Oneshot> Future for Op<T> {
    type Output = T::Output;

    /// The stages are tested in order of how often a poll finds them: in flight (every poll
    /// after the first on io_uring), offloaded and ready (epoll), then the first poll. The data
    /// stays in `self.data` until the result is in hand, whatever the stage, so a panic in any
    /// poll leaves it where `Drop` finds it.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        if let Stage::InFlight { driver, index } = &this.stage {
            let polled = poll_in_flight(driver, *index, &mut this.cancel_sent, cx, |d, w, r| {
                d.uring().slots_mut().poll_result(*index, w, r)
            });
            let Poll::Ready(cqe) = polled else {
                return Poll::Pending;
            };
            // Only an op a scope cancelled turns `ECANCELED` into `TimedOut`: a cancel from
            // elsewhere (a shutdown) stays the kernel's error.
            let cqe = if this.cancel_sent {
                cancel_scope::after_cancel(cqe)
            } else {
                cqe
            };
            return Poll::Ready(this.finish(cqe));
        }
        if let Stage::Offloaded { call, .. } = &mut this.stage {
            let Offloaded { job, handle } = &mut **call;
            // The handle is what registers the waker; the job is read only once the handle says
            // the pool thread is done, so its result is final and the data is ours again.
            if Pin::new(handle).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Done, or never run (the pool could not start a thread): then the data is free.
            let cqe = job.result().unwrap_or_else(|| {
                CqeResult::from_error(io::Error::other(
                    "coring: the blocking pool could not run a file operation",
                ))
            });
            return Poll::Ready(this.finish(cqe));
        }
        if let Stage::Ready { driver } = &this.stage {
            let step = perform(driver, taken(this.data.as_mut()), cx);
            return match step {
                Step::Done(cqe) => Poll::Ready(this.finish(cqe)),
                Step::Pending => Poll::Pending,
                Step::Offload(call) => {
                    let (job, handle) = call.start();
                    // `Offloaded` before anything else runs: registering the waker is user code
                    // (a `Waker::clone`, a `wake_by_ref`), and a panic there must find the pool
                    // thread's claim on the data, or the drop frees what the call writes.
                    let driver = driver.clone();
                    this.stage = Stage::Offloaded {
                        driver,
                        call: Box::new(Offloaded { job, handle }),
                    };
                    // As on io_uring, the first poll only submits: the result is taken on the
                    // next one, even if the pool was quicker than this poll (a dropped op then
                    // still goes through `Drop`'s disposal, closing an fd an open returned).
                    if let Stage::Offloaded { call, .. } = &mut this.stage {
                        if Pin::new(&mut call.handle).poll(cx).is_ready() {
                            cx.waker().wake_by_ref();
                        }
                    }
                    Poll::Pending
                }
            };
        }
        if matches!(this.stage, Stage::Done) {
            panic!("coring: an operation future was polled after it completed");
        }
        // The first poll. A cancelling scope stops an op before the kernel sees it: nothing
        // happened, so `TimedOut` without a kernel answer (`kernel_errno` is `None` for it).
        if cancel_scope::requested() {
            return Poll::Ready(this.finish(CqeResult::from_error(cancel_scope::timed_out())));
        }
        let data = taken(this.data.as_mut());
        match start(data, false, cx.waker()) {
            // The first attempt runs in this same poll: a socket that is already readable
            // costs one syscall and no trip through epoll.
            Started::Ready(driver) => {
                this.stage.start_as(Stage::Ready { driver });
                Pin::new(this).poll(cx)
            }
            Started::InFlight(driver, index) => {
                // `InFlight` first, then anything else: from here a drop hands the data over.
                this.stage.start_as(Stage::InFlight { driver, index });
                if let Stage::InFlight { driver, index } = &this.stage {
                    cancel_scope::track(driver, *index);
                }
                Poll::Pending
            }
            Started::Failed(err) => Poll::Ready(this.finish(CqeResult::from_error(err))),
        }
    }
}

/// Cancel-on-drop (module docs). What a drop must do depends only on who may still point into
/// the data: the kernel (`InFlight`: hand it to the slot), a pool thread (`Offloaded`: keep it
/// until the call returns), or nobody (every other state: plain memory).
impl<T: Oneshot> Drop for Op<T> {
    fn drop(&mut self) {
        // The common case, an op that completed: nothing to hand over. An unsubmitted op's data
        // was never seen by the kernel and drops with the future as plain memory.
        if matches!(self.stage, Stage::Done | Stage::Unsubmitted) {
            return;
        }
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::InFlight { driver, index } => {
                let mut data = taken(self.data.take());
                // Before the move: a stream op holds its direction back from here on (see
                // `op/loss.rs`), whatever the kernel still does with this one.
                data.abandoned(&Rc::downgrade(&driver));
                abandon(&driver, index, Box::new(data));
            }
            // Readiness backend, a file call on the blocking pool: the pool thread holds
            // pointers into the data until the call returns, just as the kernel would.
            Stage::Offloaded { driver, call } => {
                let job = call.job;
                let mut data = taken(self.data.take());
                match job.result() {
                    // Done: nobody takes the result (an fd an open returned is closed).
                    Some(cqe) => data.dispose(&cqe),
                    // Still running on the pool: the data must outlive the call.
                    None => match driver.try_borrow_mut() {
                        Ok(mut driver) => driver.epoll().orphan(job, Box::new(data)),
                        // Under the driver's borrow (see `abandon`): leaked, never freed.
                        Err(_) => std::mem::forget(data),
                    },
                }
            }
            _ => {}
        }
    }
}

/// The in-flight poll both op futures share: sends the cancel a cancelling scope asked for
/// (once: `cancel_sent` remembers it), takes a unit of budget (a completion already in is ready
/// by default), then asks the driver with `ask`, which is given the waker to store and where a
/// waker it replaces goes. That one is dropped after the driver's borrow ends (a waker's Drop
/// is user code); the budget is given back if nothing was ready.
///
/// The budget (`task/coop.rs`) is what stops a task whose ops always complete by the time it
/// polls them (a fast peer, a stream with results queued) from looping forever without
/// yielding: an op that is ready spends one unit, and a spent budget makes it return `Pending`
/// (with its task woken) even though the result is there. Invariant 7 in
/// `docs/ARCHITECTURE.md`. A `Pending` that was real costs nothing, hence the refund.
#[inline]
pub(super) fn poll_in_flight<R>(
    driver: &DriverCell,
    index: usize,
    cancel_sent: &mut bool,
    cx: &mut Context<'_>,
    ask: impl FnOnce(&mut Driver, &Waker, &mut Option<Waker>) -> Poll<R>,
) -> Poll<R> {
    if !*cancel_sent && cancel_scope::requested() {
        *cancel_sent = true;
        driver.borrow_mut().uring().cancel_in_flight(index);
    }
    if coop::poll_proceed(cx).is_pending() {
        return Poll::Pending;
    }
    let mut replaced = None;
    let polled = ask(&mut driver.borrow_mut(), cx.waker(), &mut replaced);
    drop(replaced);
    if polled.is_pending() {
        coop::refund();
    }
    polled
}

/// Where an op's first poll left it (see [`start`]).
pub(super) enum Started {
    /// Readiness backend: the op is to perform its syscall on this driver (its fd, if it has a
    /// blocking one, was made non-blocking first).
    Ready(Rc<DriverCell>),
    /// io_uring: the entry is in slot `.1` of this driver's ring. The caller stores its
    /// `InFlight` stage, then has the cancel scopes being polled track it
    /// (`cancel_scope::track`), in that order.
    InFlight(Rc<DriverCell>, usize),
    /// The op never reached the kernel: the runtime is shutting down, the submission queue
    /// stayed full (or `io_uring_enter` failed while making room), the ring is a fork child's
    /// inheritance, or the fd could not be made non-blocking. The error is the op's result.
    Failed(io::Error),
}

/// An op's first poll, the same for both op futures: picks the way the current runtime's
/// backend runs ops and, on io_uring, pushes the op's entry (woken through `waker`).
/// `multishot` says which kind of slot the op needs (see `lifecycle.rs`).
///
/// The runtime is found here, at the first poll, and kept (`Rc`) from then on: the entry can
/// only be reaped by the ring it went to, so later polls and the drop must reach that ring
/// even if another runtime is current by then. `sqe` is called only now, not when the op is
/// built, so an op never polled never builds an entry (and a cancelling scope can refuse it
/// first, see `Op::poll`).
#[inline]
pub(super) fn start<T: OpCode>(data: &mut T, multishot: bool, waker: &Waker) -> Started {
    let driver = super::current();
    if driver.borrow().is_readiness() {
        // Readiness backend, before an op's first attempt: see [`OpCode::blocking_fd`].
        let prepared = match data.blocking_fd() {
            Some(fd) => driver.borrow_mut().epoll().ensure_nonblocking(fd),
            None => Ok(()),
        };
        return match prepared {
            Ok(()) => Started::Ready(driver),
            Err(err) => Started::Failed(err),
        };
    }
    let pushed = driver
        .borrow_mut()
        .uring()
        .push(data.sqe(), multishot, waker);
    match pushed {
        Ok(index) => Started::InFlight(driver, index),
        Err(err) => Started::Failed(err),
    }
}

/// What one readiness-backend attempt at an op came to.
pub(super) enum Step {
    /// The syscall ran (or the op was refused): its result, shaped as a completion.
    Done(CqeResult),
    /// Waiting for readiness, with the waker registered.
    Pending,
    /// The call is to run on the blocking pool.
    Offload(super::epoll::Syscall),
}

/// One readiness-backend attempt at an op: its result, or `Pending` with the waker registered
/// for the fd it waits on. A cancelling scope ends it with `ECANCELED` (which the scope turns
/// into its `TimedOut`), as the kernel's cancel would: nothing was done.
///
/// An attempt never leaves anything in the kernel: its syscall has returned by the time this
/// does, so a future dropped after `Pending` owes nobody its data (only its waker may stay in
/// the fd's list, and wake the task once, for nothing).
pub(super) fn perform<T: OpCode>(
    driver: &Rc<DriverCell>,
    data: &mut T,
    cx: &mut Context<'_>,
) -> Step {
    let step = attempt(driver, data, cx);
    if matches!(step, Step::Pending) {
        // After the driver's borrow: a cancelling scope must be able to wake this wait.
        cancel_scope::track_waiting(cx.waker());
    }
    step
}

/// The body of [`perform`].
fn attempt<T: OpCode>(driver: &Rc<DriverCell>, data: &mut T, cx: &mut Context<'_>) -> Step {
    if cancel_scope::requested() {
        return Step::Done(cancel_scope::after_cancel(CqeResult::from_raw(
            -libc::ECANCELED,
            0,
        )));
    }
    if coop::poll_proceed(cx).is_pending() {
        return Step::Pending;
    }
    // The drained-read shortcut (`epoll/fds.rs`): a stream read that emptied the socket last
    // time waits for the next event instead of a `recv` that would only say `EAGAIN`.
    if let Some((fd, interest)) = data.readiness() {
        let mut driver = driver.borrow_mut();
        let epoll = driver.epoll();
        if !epoll.may_be_ready(fd, interest) {
            coop::refund();
            return match epoll.wait(fd, interest, cx.waker()) {
                Ok(()) => Step::Pending,
                Err(err) => Step::Done(CqeResult::from_error(err)),
            };
        }
    }
    match data.perform() {
        Performed::Done(cqe) => Step::Done(cqe),
        Performed::Drained(cqe, fd) => {
            driver.borrow_mut().epoll().drained(fd);
            Step::Done(cqe)
        }
        Performed::Blocking(call) => Step::Offload(call),
        Performed::WouldBlock(fd, interest) => {
            // A syscall that found nothing did no work for the task: it does not spend budget.
            coop::refund();
            let waited = driver.borrow_mut().epoll().wait(fd, interest, cx.waker());
            match waited {
                Ok(()) => Step::Pending,
                Err(err) => Step::Done(CqeResult::from_error(err)),
            }
        }
    }
}

/// Hands an in-flight op's data to the driver. Never unwinds: it runs in `Drop`, and an unwind
/// would free the data while the kernel may still write it.
///
/// The data arrives already boxed as `dyn Abandoned`: the driver keeps dropped ops of every
/// type in one slab, and only this rare path pays for the allocation (module docs).
pub(super) fn abandon(driver: &RefCell<Driver>, index: usize, data: Box<dyn Abandoned>) {
    let Ok(mut borrowed) = driver.try_borrow_mut() else {
        // Dropped from code running under the driver's borrow (which the driver avoids, see its
        // module docs): the op cannot be cancelled or tracked, so its data is leaked, not freed.
        std::mem::forget(data);
        return;
    };
    let uring = borrowed.uring();
    let leftover = uring.abandon(index, data);
    super::dispose::park_caught(uring.dispose_panic());
    drop(borrowed);
    // Dropped after the borrow ends: a buffer's Drop may itself talk to the driver, and a
    // waker's Drop is user code.
    drop(leftover);
}
