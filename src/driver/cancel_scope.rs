//! Cancel-and-await: a scope in which in-flight ops are cancelled but still awaited.
//!
//! Dropping an op's future cancels it too, but whatever the kernel did before the cancel took
//! effect (bytes read, a connection accepted) is then out of the caller's reach. Inside a
//! cancelling scope an op is *not* dropped: it is asked to stop and its future goes on waiting
//! for the final completion, so the caller gets either what happened or a `TimedOut` error
//! saying nothing did. An op first polled inside a cancelling scope is not submitted at all.
//!
//! A scope cannot count on polling its ops to cancel them: a combinator such as
//! `FuturesUnordered` polls only the children that were woken, and an op waiting for the kernel
//! is never woken until it completes. So every op submitted while a scope is polled is
//! *tracked* by it (its driver and `user_data`), and [`Scope::cancel_all`] sends each one
//! still in flight its cancel the moment the scope's deadline passes. The op's own poll then
//! finds the scope cancelling and turns the kernel's cancel answer (`ECANCELED`, or `EINTR`
//! for work a kernel worker had started) into `TimedOut` ([`after_cancel`]).
//!
//! On the readiness backend no op is in the kernel: an op waits for its fd with its waker
//! registered. Such waits are tracked by waker, and `cancel_all` wakes them, so their next poll
//! happens inside the cancelling scope and ends them with `TimedOut`.
//!
//! The scopes being polled are a thread-local stack, so ops of other tasks are untouched; an
//! op is tracked by every scope on the stack, so a cancelling outer scope cancels the ops of
//! inner ones too.
//!
//! `time::timeout_op` (`src/time/timeout_op.rs`) is the public face: each poll of its future
//! runs inside an [`Enter`] for its scope, and the poll that finds the deadline passed calls
//! [`Scope::cancel_all`] first, then polls the inner future cancelling.
//!
//! # The per-thread state, and who touches it
//!
//! | key         | pushed / set by                 | read / emptied by                          |
//! |-------------|---------------------------------|--------------------------------------------|
//! | `CANCELLING`| [`Enter::new`] (restored by its drop) | every op's poll ([`requested`])      |
//! | `DEPTH`     | [`Enter`]                       | [`track`], [`track_waiting`] (fast exit)   |
//! | `ACTIVE`    | [`Enter`]                       | [`track`], [`track_waiting`]               |
//! | `TRACKED`   | [`track`] (io_uring push)       | [`Scope::cancel_all`]; pruned by [`track`] |
//! | `WAITING`   | [`track_waiting`] (epoll wait)  | [`Scope::cancel_all`], [`Scope::forget`]   |
//!
//! All of it is thread-local and none of it is borrowed across a poll or a wake, so a scope's
//! future may be polled inside another's without a `RefCell` conflict.
//!
//! # Why the cancelled op is still awaited
//!
//! A cancel is a request, and the op may already have done its work: bytes read into the
//! buffer, a connection accepted, a datagram taken off the socket. Dropping the future would
//! hand that to the op's `dispose`, which can only close the fd or recycle the buffer; the
//! data is lost to the caller. Awaiting the final completion instead returns it: the caller
//! sees `Ok(n)` if the op won the race, `TimedOut` if the cancel did.

use super::opcode::CqeResult;
use super::{Driver, DriverCell};
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

thread_local! {
    /// Whether the poll now running is inside a scope whose deadline passed (this one or an
    /// enclosing one): ops check it on every poll, so it is a plain `Cell<bool>`.
    static CANCELLING: Cell<bool> = const { Cell::new(false) };
    /// How many scopes are being polled (`ACTIVE`'s length): a key with no destructor, so the
    /// check every op makes outside any scope is one thread-local load, not a `RefCell<Vec>`
    /// access through a lazily registered destructor (~40 instructions per op).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The scopes being polled on this thread, innermost last.
    static ACTIVE: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
    /// The ops submitted inside scopes that may still be in flight: scope, driver, `user_data`.
    /// The driver is weak so a scope that outlives its runtime keeps nothing of it alive;
    /// `user_data` rather than the slot index so an entry that outlives its op cannot name
    /// the op that took its slot next (the generation differs, see `Uring::is_live`).
    /// Entries of a finished scope are not removed when it ends, only pruned by `track`: a
    /// scope id is never reused, so a stale entry costs memory, never a wrong cancel.
    static TRACKED: RefCell<Vec<(Scope, Weak<DriverCell>, u64)>> = const { RefCell::new(Vec::new()) };
    /// Readiness backend: the wakers of ops that waited for their fd inside scopes. Emptied per
    /// scope by `cancel_all` (woken) or `forget` (dropped) when its `timeout_op` ends.
    static WAITING: RefCell<Vec<(Scope, Waker)>> = const { RefCell::new(Vec::new()) };
}

/// Whether ops polled now should be cancelled (and still awaited). An unsubmitted op then
/// completes at once with [`timed_out`]; an in-flight one sends its cancel (once) and waits.
pub(crate) fn requested() -> bool {
    CANCELLING.with(Cell::get)
}

/// A scope's identity: a number, not a pointer, so a future holding one stays `Send`, and
/// never reused, so a scope dropped with ops in flight leaves nothing a later scope could
/// cancel by mistake (its entries stay in `TRACKED` until `track` prunes them as finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope(u64);

impl Scope {
    /// A fresh identity, from a process-wide counter (a `u64` never wraps in practice).
    /// Process-wide rather than per thread so a `timeout_op` future moved to another thread
    /// keeps an id no scope there has; `Relaxed` because only uniqueness matters.
    pub(crate) fn new() -> Scope {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Scope(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Forgets the waits this scope tracked: it is done, nothing of it will be cancelled.
    pub(crate) fn forget(self) {
        drop(take_waiting(self));
    }

    /// Asks the kernel to cancel every op this scope submitted that is still in flight; their
    /// futures take the results as usual.
    ///
    /// Called once, by the poll that finds the deadline passed, before the inner future is
    /// polled: ops the combinator will not poll again are cancelled here. One it does poll
    /// sends its own as well (its `cancel_sent` knows nothing of this one); the kernel answers
    /// the second `ENOENT` or `EALREADY`, which changes nothing, and a stream's is skipped by
    /// its cap. Ops that finished in between are skipped (`cancel_live`).
    pub(crate) fn cancel_all(self) {
        let mut mine = Vec::new();
        TRACKED.with(|tracked| {
            tracked.borrow_mut().retain(|(scope, driver, user_data)| {
                if *scope == self {
                    mine.push((driver.clone(), *user_data));
                }
                *scope != self
            })
        });
        // Wakers are woken (and dropped) outside the list's borrow: they may be anyone's code.
        let waiting = take_waiting(self);
        for waker in waiting {
            waker.wake();
        }
        for (driver, user_data) in mine {
            // Scopes are polled by tasks, never under the driver's borrow; were it borrowed,
            // the op would still complete on its own.
            if let Some(Ok(mut driver)) = driver.upgrade().as_ref().map(|d| d.try_borrow_mut()) {
                if let Driver::Uring(uring) = &mut *driver {
                    uring.cancel_live(user_data);
                }
            }
        }
    }
}

/// Takes this scope's tracked wakers out of the list (empty if the thread is exiting). Returned
/// rather than woken here, so no waker runs while `WAITING` is borrowed: a waker is user code,
/// and one that dropped a `timeout_op` (whose drop forgets its scope) would find the list
/// borrowed and panic.
fn take_waiting(scope: Scope) -> Vec<Waker> {
    let mut mine = Vec::new();
    let _ = WAITING.try_with(|waiting| {
        let mut waiting = waiting.borrow_mut();
        let mut index = 0;
        while index < waiting.len() {
            if waiting[index].0 == scope {
                mine.push(waiting.swap_remove(index).1);
            } else {
                index += 1;
            }
        }
    });
    mine
}

/// Readiness backend: records that an op polled inside the scopes being polled, if any, now
/// waits with `waker`, so a scope's deadline can wake it (see the module docs). A waker already
/// tracked for a scope is not added again, so a long wait costs one entry.
pub(crate) fn track_waiting(waker: &Waker) {
    with_active(|active| {
        WAITING.with(|waiting| {
            let mut waiting = waiting.borrow_mut();
            for scope in active {
                if !waiting
                    .iter()
                    .any(|(s, w)| s == scope && w.will_wake(waker))
                {
                    waiting.push((*scope, waker.clone()));
                }
            }
        });
    });
}

/// Records that the op just pushed to `driver`'s slot `index` belongs to the scopes being
/// polled, if any (see the module docs). Inlined: outside any scope (every op's case) it is one
/// thread-local load.
#[inline]
pub(crate) fn track(driver: &Rc<DriverCell>, index: usize) {
    with_active(|active| {
        let Some(user_data) = (match &*driver.borrow() {
            Driver::Uring(uring) => uring.user_data_of(index),
            Driver::Epoll(_) => None,
        }) else {
            return;
        };
        TRACKED.with(|tracked| {
            let mut tracked = tracked.borrow_mut();
            prune_when_full(&mut tracked, |(_, d, u)| {
                d.upgrade().is_some_and(|d| is_live(&d.borrow(), *u))
            });
            for scope in active {
                tracked.push((*scope, Rc::downgrade(driver), user_data));
            }
        });
    });
}

/// Forgets the finished ops of `tracked` when it is full, so the list is as long as the ops in
/// flight, not as the ops ever submitted in a long-lived scope; returns the entries looked at
/// (0: no pass).
///
/// A pass leaves the list at most half full, growing it if it freed less than half: the next
/// pass is then at least half the list's length in pushes away, so a pass scans at most two
/// entries per push since the last, amortised O(1) a push whatever the share still in flight.
/// Growing only when a pass freed nothing (as before) made a list nearly full of ops still in
/// flight pay a pass every few pushes: 1,803 passes over 1.8 million entries for 10,000 pushes
/// with 1,020 in flight (the test below).
fn prune_when_full<T>(tracked: &mut Vec<T>, live: impl FnMut(&T) -> bool) -> usize {
    if tracked.len() < tracked.capacity() || tracked.len() < 8 {
        return 0;
    }
    let scanned = tracked.len();
    tracked.retain(live);
    if tracked.len() > tracked.capacity() / 2 {
        // Room for as many again: the capacity at least doubles, so this too is amortised.
        tracked.reserve(tracked.len());
    }
    scanned
}

/// Runs `f` with the scopes being polled on this thread, innermost last, if there are any.
/// The ops' fast path is that there are none: one load of `DEPTH` decides it, and `ACTIVE` is
/// not touched.
#[inline]
fn with_active(f: impl FnOnce(&[Scope])) {
    if DEPTH.with(Cell::get) == 0 {
        return;
    }
    ACTIVE.with(|active| {
        let active = active.borrow();
        if !active.is_empty() {
            f(&active);
        }
    });
}

/// Marks the polls made while it lives as belonging to `scope`, and as cancelling (if
/// `cancel`, or if an enclosing scope already is); restores the enclosing state on drop, even
/// if the poll panics.
///
/// A guard held across one poll of the scope's future, never across an `.await`: the
/// thread-local stack must describe the poll now running, and a task switch in between would
/// lend it to another task's ops.
pub(crate) struct Enter {
    /// `CANCELLING` as the enclosing scope had it, restored on drop.
    outer: bool,
}

impl Enter {
    /// Enters `scope` for one poll of its future; `cancel`: its deadline has passed.
    pub(crate) fn new(scope: Scope, cancel: bool) -> Enter {
        ACTIVE.with(|active| active.borrow_mut().push(scope));
        DEPTH.with(|depth| depth.set(depth.get() + 1));
        let outer = CANCELLING.with(|c| c.replace(c.get() || cancel));
        Enter { outer }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CANCELLING.with(|c| c.set(self.outer));
        ACTIVE.with(|active| active.borrow_mut().pop());
        DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Whether the op `user_data` names still holds its slot in `driver`.
fn is_live(driver: &Driver, user_data: u64) -> bool {
    match driver {
        Driver::Uring(uring) => uring.is_live(user_data),
        Driver::Epoll(_) => false,
    }
}

/// The error of an op the scope stopped before the kernel did anything. Carries no errno and
/// no [`CancelledInFlight`], which is how `op/close.rs` knows the fd was never handed over
/// and is still its own to close.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "coring: the operation was cancelled by its deadline before the kernel did anything",
    )
}

/// The final result of an op this scope asked to cancel: the kernel's `ECANCELED` (or `EINTR`,
/// for work it had started in a worker thread) becomes a `TimedOut` error that
/// [`kernel_errno`] recognises; anything else (the op finished first) stands.
///
/// `TimedOut` because a deadline is what stopped the op, and callers of `timeout_op` match on
/// the kind; the kernel's errno stays inside, shown in the message.
pub(crate) fn after_cancel(cqe: CqeResult) -> CqeResult {
    match cqe.result {
        Err(err) if matches!(err.raw_os_error(), Some(libc::ECANCELED | libc::EINTR)) => {
            CqeResult {
                result: Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    CancelledInFlight(err),
                )),
                flags: cqe.flags,
            }
        }
        result => CqeResult {
            result,
            flags: cqe.flags,
        },
    }
}

/// The kernel's own answer to an op (`ECANCELED` or `EINTR`), if `err` is the `TimedOut`
/// [`after_cancel`] made of it; `None` for a refusal before the kernel saw it ([`timed_out`])
/// or any other error. An op whose side effect depends on the answer (a close: `EINTR` closed
/// the fd, `ECANCELED` did not) must know which.
pub(crate) fn kernel_errno(err: &io::Error) -> Option<i32> {
    err.get_ref()?
        .downcast_ref::<CancelledInFlight>()?
        .0
        .raw_os_error()
}

/// The kernel's cancel answer (`ECANCELED`, `EINTR`) to an op a scope stopped in flight. A
/// private type inside the `TimedOut` error, so [`kernel_errno`] can tell it from a
/// refusal before submission by type, not by parsing a message.
#[derive(Debug)]
struct CancelledInFlight(io::Error);

impl std::fmt::Display for CancelledInFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "coring: the operation was cancelled by its deadline before the kernel did anything ({})",
            self.0
        )
    }
}

impl std::error::Error for CancelledInFlight {}

#[cfg(test)]
mod tests {
    use super::*;

    /// An inner scope that is not cancelling cannot switch off an outer one that is, and each
    /// guard restores exactly what it found.
    #[test]
    fn scopes_nest_and_restore() {
        let tracker = Scope::new();
        assert!(!requested());
        {
            let _outer = Enter::new(tracker, true);
            assert!(requested());
            {
                let _inner = Enter::new(tracker, false);
                assert!(requested(), "an outer cancelling scope cancels inner ones");
            }
            assert!(requested());
        }
        assert!(!requested());
        let _quiet = Enter::new(tracker, false);
        assert!(!requested());
    }

    /// A long scope with many ops in flight prunes its list in amortised O(1) a push, whatever
    /// the share of entries still live when the list fills: `in_flight` ops at a time, each
    /// push finishing the oldest, so at a pass about `in_flight / capacity` of the list is
    /// live (90% and more for the larger windows here).
    #[test]
    fn pruning_costs_amortised_constant_work_per_push() {
        const PUSHES: u64 = 10_000;
        let mut costly = Vec::new();
        for in_flight in [100, 500, 922, 1_000, 1_020] {
            let mut tracked: Vec<u64> = Vec::new();
            let (mut passes, mut scanned) = (0, 0);
            for id in 0..PUSHES {
                // Ops finish in order: only the newest `in_flight` are still in the kernel.
                let done_below = (id + 1).saturating_sub(in_flight);
                let looked = prune_when_full(&mut tracked, |&op| op >= done_below);
                passes += usize::from(looked > 0);
                scanned += looked;
                tracked.push(id);
            }
            println!("{in_flight} in flight: {passes} passes, {scanned} entries scanned");
            // Each pass scans the list it finds full, which (with a pass leaving it at most
            // half full) took at least half its length in pushes to fill.
            if scanned as u64 > 2 * PUSHES {
                costly.push(format!(
                    "{in_flight} in flight: {passes} passes scanned {scanned} entries"
                ));
            }
            // And the list stays within a small factor of what is in flight.
            assert!(tracked.capacity() as u64 <= 4 * in_flight.max(8));
        }
        assert!(costly.is_empty(), "for {PUSHES} pushes: {costly:#?}");
    }

    /// An op that won the race against its cancel keeps its result, and an unrelated error
    /// keeps its errno: only the kernel's cancel answer becomes `TimedOut`.
    #[test]
    fn only_a_cancel_error_becomes_timed_out() {
        let cancelled = after_cancel(CqeResult::from_raw(-libc::ECANCELED, 0));
        let err = cancelled.result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(after_cancel(CqeResult::from_raw(5, 0)).result.unwrap(), 5);
        let reset = after_cancel(CqeResult::from_raw(-libc::ECONNRESET, 0));
        assert_eq!(
            reset.result.unwrap_err().raw_os_error(),
            Some(libc::ECONNRESET)
        );
    }
}
