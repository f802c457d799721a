//! `Op<T>`: an io_uring operation as a future, and the `OpCode` contract each opcode fulfils.
//!
//! An `Op` is created unsubmitted and touches nothing until first polled (so building one and
//! dropping it is free). The first poll builds the submission entry from the op's own data and
//! pushes it; the entry is submitted with the rest of the loop turn's batch. When the final
//! completion arrives the data and the result go to [`OpCode::complete`], which hands buffers back.
//!
//! Dropped while in flight, an `Op` moves its data into the driver's slot, which keeps it alive
//! until the final completion (see `lifecycle.rs`), and asks the kernel to cancel.
//!
//! On the readiness backend (`epoll/`) the same futures call [`OpCode::perform`] instead: the
//! syscall runs at once, non-blocking, on the op's data; `EAGAIN` parks the future until epoll
//! says the fd is ready. The result goes to the same `complete`, so callers cannot tell.

use super::{cancel_scope, Driver, DriverCell};
use crate::task::coop;
use io_uring::{cqueue, squeue};
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// One completion: the result (negative errno already turned into an `io::Error`) and its flags.
#[derive(Debug)]
pub(crate) struct CqeResult {
    pub(crate) result: io::Result<u32>,
    pub(crate) flags: u32,
}

impl CqeResult {
    /// The one place a kernel result becomes an `io::Result`.
    pub(crate) fn from_raw(res: i32, flags: u32) -> Self {
        let result = if res >= 0 {
            Ok(res as u32)
        } else {
            Err(io::Error::from_raw_os_error(-res))
        };
        CqeResult { result, flags }
    }

    /// A failure that happened before the kernel saw the operation.
    pub(crate) fn from_error(err: io::Error) -> Self {
        CqeResult {
            result: Err(err),
            flags: 0,
        }
    }

    pub(crate) fn has_more(&self) -> bool {
        cqueue::more(self.flags)
    }

    pub(crate) fn is_notification(&self) -> bool {
        cqueue::notif(self.flags)
    }

    /// The provided buffer the kernel picked for this result, if any.
    pub(crate) fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// Which readiness an op that would block waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// What performing an op at once (the readiness backend) gave.
#[derive(Debug)]
pub(crate) enum Performed {
    /// The syscall ran (or failed): its result, shaped as a completion would be. A multishot
    /// op's item carries `IORING_CQE_F_MORE` unless it ends the stream.
    Done(CqeResult),
    /// `fd` is not ready for `Interest`: wait for it, then perform again.
    WouldBlock(RawFd, Interest),
    /// A call that may block (a file's): run it on the blocking pool; its result is the op's.
    Blocking(super::epoll::Syscall),
    /// As `Done`, and the stream read took everything there was (fewer bytes than room): the
    /// fd is not readable until epoll says so again, so the next read waits without a syscall.
    Drained(CqeResult, RawFd),
}

impl Performed {
    /// The outcome of a non-blocking syscall on `fd` that returned `rc` (negative: see errno).
    /// `EAGAIN` means wait; `flags` are given to a success (`F_MORE` for a stream's item).
    pub(crate) fn from_rc(rc: isize, fd: RawFd, interest: Interest, flags: u32) -> Performed {
        if rc >= 0 {
            return Performed::Done(CqeResult {
                result: Ok(u32::try_from(rc).unwrap_or(u32::MAX)),
                flags,
            });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EINPROGRESS) => Performed::WouldBlock(fd, interest),
            _ => Performed::Done(CqeResult::from_error(err)),
        }
    }

    /// Runs `call` (a non-blocking syscall on `fd`) again while a signal interrupts it.
    pub(crate) fn retry(
        fd: RawFd,
        interest: Interest,
        flags: u32,
        mut call: impl FnMut() -> isize,
    ) -> Performed {
        loop {
            let rc = call();
            if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Performed::from_rc(rc, fd, interest, flags);
        }
    }
}

/// `IORING_CQE_F_MORE`: on a performed multishot item, "the stream goes on".
pub(crate) const MORE: u32 = 1 << 1;

/// The error of an op the readiness backend cannot perform.
pub(crate) fn unsupported_on_epoll(what: &str) -> CqeResult {
    CqeResult::from_error(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("coring: {what} needs io_uring, and this runtime runs on epoll"),
    ))
}

/// An io_uring opcode together with the data its submission entry points at.
///
/// # Safety
///
/// Every pointer in the entry returned by `sqe` must point into memory owned by `self` that stays
/// valid and does not move when `self` is moved (heap memory: a buffer's heap bytes, a boxed
/// sockaddr or timespec), until `complete` consumes `self` or the driver drops the abandoned data
/// after the final completion. File descriptors in the entry must be kept open by `self` (a
/// `SharedFd` clone) for as long.
pub(crate) unsafe trait OpCode: 'static {
    /// What the future resolves to.
    type Output;

    /// Whether the kernel posts a completion per item (multishot) rather than one in all.
    const MULTISHOT: bool = false;

    /// Builds the submission entry; `user_data` is set by the driver.
    fn sqe(&mut self) -> squeue::Entry;

    /// Performs the operation now, without blocking, on the op's own data (the readiness
    /// backend). Ops that never block (files) may run on the blocking pool instead; ops that
    /// need io_uring say so.
    fn perform(&mut self) -> Performed {
        Performed::Done(unsupported_on_epoll("this operation"))
    }

    /// The fd of an op whose syscall has no non-blocking flag (accept, connect): the readiness
    /// backend makes it non-blocking before the first attempt, whoever made the socket.
    fn blocking_fd(&self) -> Option<RawFd> {
        None
    }

    /// The fd and direction of an op that may skip its syscall while epoll has not reported
    /// the fd ready since it was last found drained (stream reads; see `Performed::Drained`).
    fn readiness(&self) -> Option<(RawFd, Interest)> {
        None
    }

    /// Turns the final result into the output, handing owned buffers back.
    fn complete(self, cqe: CqeResult) -> Self::Output;

    /// Disposes of a result nobody will take: the future was dropped. Ops whose result is a new
    /// fd close it here; ops that pick provided buffers give the buffer back.
    fn dispose(&mut self, cqe: &CqeResult) {
        let _ = cqe;
    }

    /// Called once when the future is dropped while the op is in flight, before the data moves
    /// to the driver: stream ops tell their stream to hold its next op back until this one's
    /// final completion (see `op/loss.rs`).
    fn abandoned(&mut self, owner: &Owner) {
        let _ = owner;
    }

    /// Called (perhaps more than once) on an abandoned op still unfinished a short while into
    /// its runtime's shutdown: an op that a cancel cannot end (a zero-copy send waiting for a
    /// peer to acknowledge) makes the kernel let go here. Runs under the driver's borrow: no
    /// user code.
    fn shut_down(&mut self) {}
}

/// The runtime whose ring an op was submitted to: only its loop can reap the op's completions.
pub(crate) type Owner = std::rc::Weak<DriverCell>;

/// The data of an op whose future was dropped in flight, kept by the driver until the end.
pub(crate) trait Abandoned {
    /// Called with every completion that arrives after the future was dropped.
    fn dispose(&mut self, cqe: &CqeResult);

    /// See [`OpCode::shut_down`].
    fn shut_down(&mut self) {}
}

impl<T: OpCode> Abandoned for T {
    fn dispose(&mut self, cqe: &CqeResult) {
        OpCode::dispose(self, cqe)
    }

    fn shut_down(&mut self) {
        OpCode::shut_down(self)
    }
}

enum State<T> {
    Unsubmitted(T),
    InFlight {
        driver: Rc<DriverCell>,
        index: usize,
        data: T,
    },
    /// Readiness backend: the op performs its syscall when polled (see the module docs).
    Ready {
        driver: Rc<DriverCell>,
        data: T,
    },
    /// Readiness backend: the op's call runs on the blocking pool, on pointers into `data`.
    Offloaded {
        driver: Rc<DriverCell>,
        data: T,
        job: std::sync::Arc<super::epoll::Job>,
        handle: crate::task::BlockingHandle<()>,
    },
    Done,
}

/// A single-shot operation as a future. See the module docs.
pub(crate) struct Op<T: OpCode> {
    state: State<T>,
    /// A cancelling scope asked the kernel to cancel this op (see `cancel_scope.rs`).
    cancel_sent: bool,
}

// The kernel points at heap memory owned by `T`, never at `T` itself, so moving the future is fine.
impl<T: OpCode> Unpin for Op<T> {}

impl<T: OpCode> Op<T> {
    pub(crate) fn new(data: T) -> Self {
        Op {
            state: State::Unsubmitted(data),
            cancel_sent: false,
        }
    }
}

impl<T: OpCode> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        // In flight, the data stays in `self` while the driver is asked: if anything panics, the
        // unwinding drop abandons the data to the driver instead of freeing it under the kernel.
        if let State::InFlight { driver, index, .. } = &this.state {
            if !this.cancel_sent && cancel_scope::requested() {
                this.cancel_sent = true;
                driver.borrow_mut().uring().cancel_in_flight(*index);
            }
            // A completion already in is ready by default: ask for budget before taking it.
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            let mut replaced = None;
            let polled = driver
                .borrow_mut()
                .poll_result(*index, cx.waker(), &mut replaced);
            // Dropped after the borrow ends: a waker's Drop is user code.
            drop(replaced);
            let Poll::Ready(cqe) = polled else {
                coop::refund();
                return Poll::Pending;
            };
            let State::InFlight { data, .. } = std::mem::replace(&mut this.state, State::Done)
            else {
                unreachable!("coring: an operation's state changed while it was polled")
            };
            let cqe = if this.cancel_sent {
                cancel_scope::after_cancel(cqe)
            } else {
                cqe
            };
            return Poll::Ready(data.complete(cqe));
        }
        if let State::Offloaded { job, handle, .. } = &mut this.state {
            if Pin::new(handle).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Done, or never run (the pool could not start a thread): then the data is free.
            let cqe = job.result().unwrap_or_else(|| {
                CqeResult::from_error(io::Error::other(
                    "coring: the blocking pool could not run a file operation",
                ))
            });
            let State::Offloaded { data, .. } = std::mem::replace(&mut this.state, State::Done)
            else {
                unreachable!("coring: an operation's state changed while it was polled")
            };
            return Poll::Ready(data.complete(cqe));
        }
        if let State::Ready { driver, data } = &mut this.state {
            let cqe = match perform(driver, data, cx) {
                Step::Done(cqe) => cqe,
                Step::Pending => return Poll::Pending,
                Step::Offload(call) => {
                    let (job, handle) = call.start();
                    let State::Ready { driver, data } =
                        std::mem::replace(&mut this.state, State::Done)
                    else {
                        unreachable!("coring: an operation's state changed while it was polled")
                    };
                    this.state = State::Offloaded {
                        driver,
                        data,
                        job,
                        handle,
                    };
                    // As on io_uring, the first poll only submits: the result is taken on the
                    // next one, even if the pool was quicker than this poll (a dropped op then
                    // still goes through `Drop`'s disposal, closing an fd an open returned).
                    if let State::Offloaded { handle, .. } = &mut this.state {
                        if Pin::new(handle).poll(cx).is_ready() {
                            cx.waker().wake_by_ref();
                        }
                    }
                    return Poll::Pending;
                }
            };
            let State::Ready { data, .. } = std::mem::replace(&mut this.state, State::Done) else {
                unreachable!("coring: an operation's state changed while it was polled")
            };
            return Poll::Ready(data.complete(cqe));
        }
        match std::mem::replace(&mut this.state, State::Done) {
            State::Unsubmitted(data) if cancel_scope::requested() => {
                Poll::Ready(data.complete(CqeResult::from_error(cancel_scope::timed_out())))
            }
            State::Unsubmitted(mut data) => {
                let driver = super::current();
                if driver.borrow().is_readiness() {
                    if let Err(err) = prepare(&driver, &data) {
                        return Poll::Ready(data.complete(CqeResult::from_error(err)));
                    }
                    this.state = State::Ready { driver, data };
                    return Pin::new(this).poll(cx);
                }
                let pushed = driver
                    .borrow_mut()
                    .uring()
                    .push(data.sqe(), T::MULTISHOT, cx.waker());
                match pushed {
                    Ok(index) => {
                        cancel_scope::track(&driver, index);
                        this.state = State::InFlight {
                            driver,
                            index,
                            data,
                        };
                        Poll::Pending
                    }
                    Err(err) => Poll::Ready(data.complete(CqeResult::from_error(err))),
                }
            }
            State::InFlight { .. } | State::Ready { .. } | State::Offloaded { .. } => {
                unreachable!("coring: handled above")
            }
            State::Done => panic!("coring: an operation future was polled after it completed"),
        }
    }
}

impl<T: OpCode> Drop for Op<T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::InFlight {
                driver,
                index,
                mut data,
            } => {
                data.abandoned(&Rc::downgrade(&driver));
                abandon(&driver, index, Box::new(data));
            }
            State::Offloaded {
                driver,
                mut data,
                job,
                ..
            } => match job.result() {
                // Done: nobody takes the result (an fd an open returned is closed).
                Some(cqe) => data.dispose(&cqe),
                // Still running on the pool: the data must outlive the call.
                None => match driver.try_borrow_mut() {
                    Ok(mut driver) => driver.epoll().orphan(job, Box::new(data)),
                    // Under the driver's borrow (see `abandon`): leaked, never freed.
                    Err(_) => std::mem::forget(data),
                },
            },
            _ => {}
        }
    }
}

/// Readiness backend, before an op's first attempt: see [`OpCode::blocking_fd`].
fn prepare<T: OpCode>(driver: &Rc<DriverCell>, data: &T) -> io::Result<()> {
    match data.blocking_fd() {
        Some(fd) => driver.borrow_mut().epoll().ensure_nonblocking(fd),
        None => Ok(()),
    }
}

/// What one readiness-backend attempt at an op came to.
enum Step {
    Done(CqeResult),
    /// Waiting for readiness, with the waker registered.
    Pending,
    /// The call is to run on the blocking pool.
    Offload(super::epoll::Syscall),
}

/// One readiness-backend attempt at an op: its result, or `Pending` with the waker registered
/// for the fd it waits on. A cancelling scope ends it with `ECANCELED` (which the scope turns
/// into its `TimedOut`), as the kernel's cancel would: nothing was done.
fn perform<T: OpCode>(driver: &Rc<DriverCell>, data: &mut T, cx: &mut Context<'_>) -> Step {
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
fn abandon(driver: &RefCell<Driver>, index: usize, data: Box<dyn Abandoned>) {
    let Ok(mut borrowed) = driver.try_borrow_mut() else {
        // Dropped from code running under the driver's borrow (which the driver avoids, see its
        // module docs): the op cannot be cancelled or tracked, so its data is leaked, not freed.
        std::mem::forget(data);
        return;
    };
    let leftover = borrowed.uring().abandon(index, data);
    drop(borrowed);
    // Dropped after the borrow ends: a buffer's Drop may itself talk to the driver, and a
    // waker's Drop is user code.
    drop(leftover);
}

/// A multishot operation as a stream of results; see [`OpCode::MULTISHOT`].
///
/// The stream ends after the completion without `F_MORE`. Dropping it mid-stream abandons the
/// data to the driver, which disposes of any further results and frees it at the final one.
pub(crate) struct MultiOp<T: OpCode> {
    state: State<T>,
    /// Results that may wait untaken before the driver cancels the op (see `Lifecycle`).
    max_waiting: usize,
    /// A cancelling scope asked the kernel to end the stream (see `cancel_scope.rs`).
    cancel_sent: bool,
    /// Readiness backend: `cancel` was called, so the stream ends with `ECANCELED` when next
    /// polled (nothing is pending in the kernel to deliver first).
    stop: std::cell::Cell<bool>,
}

impl<T: OpCode> Unpin for MultiOp<T> {}

impl<T: OpCode> MultiOp<T> {
    pub(crate) fn new(data: T) -> Self {
        MultiOp {
            state: State::Unsubmitted(data),
            max_waiting: usize::MAX,
            cancel_sent: false,
            stop: std::cell::Cell::new(false),
        }
    }

    /// Like `new`, but once `max_waiting` results wait untaken the driver cancels the op; the
    /// results still come, then the stream ends (with `ECANCELED` unless it ended first).
    pub(crate) fn with_limit(data: T, max_waiting: usize) -> Self {
        MultiOp {
            state: State::Unsubmitted(data),
            max_waiting,
            cancel_sent: false,
            stop: std::cell::Cell::new(false),
        }
    }

    /// Asks the kernel to end the stream; the results it already produced still come, then the
    /// stream ends. Nothing happens if it is not running.
    pub(crate) fn cancel(&self) {
        match &self.state {
            State::InFlight { driver, index, .. } => {
                driver.borrow_mut().uring().cancel_stream(*index)
            }
            State::Ready { .. } => self.stop.set(true),
            _ => {}
        }
    }

    /// Whether the stream was armed and has since ended (so a new one must be armed).
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The next result, or `None` once the kernel ended the stream.
    ///
    /// Results go through `f` with the op's data, so the op can interpret them (say, map a buffer
    /// id to a pooled buffer).
    pub(crate) fn poll_next<R>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut T, CqeResult) -> R,
    ) -> Poll<Option<R>> {
        // As in `Op::poll`: the data stays in `self` while in flight, so a panic cannot free it.
        if let State::InFlight {
            driver,
            index,
            data,
        } = &mut self.state
        {
            if !self.cancel_sent && cancel_scope::requested() {
                self.cancel_sent = true;
                driver.borrow_mut().uring().cancel_in_flight(*index);
            }
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            let mut replaced = None;
            let polled = driver
                .borrow_mut()
                .uring()
                .poll_stream(*index, cx.waker(), &mut replaced);
            drop(replaced);
            return match polled {
                Poll::Ready(Some((cqe, last))) => {
                    let cqe = if self.cancel_sent && last {
                        cancel_scope::after_cancel(cqe)
                    } else {
                        cqe
                    };
                    let item = f(data, cqe);
                    if last {
                        self.state = State::Done;
                    }
                    Poll::Ready(Some(item))
                }
                Poll::Ready(None) => {
                    self.state = State::Done;
                    Poll::Ready(None)
                }
                Poll::Pending => {
                    coop::refund();
                    Poll::Pending
                }
            };
        }
        if let State::Ready { driver, data } = &mut self.state {
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
                self.state = State::Done;
            }
            return Poll::Ready(Some(item));
        }
        match std::mem::replace(&mut self.state, State::Done) {
            State::Unsubmitted(mut data) if cancel_scope::requested() => {
                let cqe = CqeResult::from_error(cancel_scope::timed_out());
                Poll::Ready(Some(f(&mut data, cqe)))
            }
            State::Unsubmitted(mut data) => {
                let driver = super::current();
                if driver.borrow().is_readiness() {
                    if let Err(err) = prepare(&driver, &data) {
                        return Poll::Ready(Some(f(&mut data, CqeResult::from_error(err))));
                    }
                    self.state = State::Ready { driver, data };
                    return self.poll_next(cx, f);
                }
                let pushed = driver
                    .borrow_mut()
                    .uring()
                    .push(data.sqe(), true, cx.waker());
                match pushed {
                    Ok(index) => {
                        cancel_scope::track(&driver, index);
                        if self.max_waiting != usize::MAX {
                            driver
                                .borrow_mut()
                                .uring()
                                .limit_stream(index, self.max_waiting);
                        }
                        self.state = State::InFlight {
                            driver,
                            index,
                            data,
                        };
                        Poll::Pending
                    }
                    Err(err) => Poll::Ready(Some(f(&mut data, CqeResult::from_error(err)))),
                }
            }
            State::InFlight { .. } | State::Ready { .. } | State::Offloaded { .. } => {
                unreachable!("coring: handled above")
            }
            State::Done => Poll::Ready(None),
        }
    }
}

impl<T: OpCode> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let State::InFlight {
            driver,
            index,
            mut data,
        } = std::mem::replace(&mut self.state, State::Done)
        {
            data.abandoned(&Rc::downgrade(&driver));
            abandon(&driver, index, Box::new(data));
        }
    }
}
