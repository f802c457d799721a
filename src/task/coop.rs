//! The cooperative budget: how many ready results one poll of a task may take before the
//! futures that are ready by default make it yield.
//!
//! A task whose awaits are always ready (an interval that has fallen behind, a channel that always
//! holds data, a retry loop on a call that fails at once) would otherwise never return from its
//! poll, and its core would run nothing else again: no other task, no timer, no I/O. As in
//! tokio's coop, each task poll (and each poll of the `block_on` future) gets [`PER_POLL`] units;
//! every ready result of a budgeted future spends one. Once they are spent, those futures return
//! `Pending` and hand their task's waker to the runtime, which wakes it only after it has fired
//! due timers and serviced the ring (as tokio defers such wakes past its driver): woken at once,
//! the task would be polled again in the same turn and starve timers just the same. At its next
//! poll the task finds a fresh budget.
//!
//! Budgeted: due sleeps (and so `Interval` ticks and `timeout`s), bounded `mpsc` sends, `mpsc`
//! and `oneshot` receives, operations whose completion is already in (single and multishot), and
//! remote spawns that failed.
//!
//! The budget is a thread-local counter, so checking it costs no allocation and no syscall. Where
//! no runtime polls (a future polled by another executor, or on a plain thread) it is unlimited.

use std::cell::{Cell, RefCell};
use std::task::{Context, Poll, Waker};

/// Ready results one poll may take (tokio uses the same figure).
pub(crate) const PER_POLL: u8 = 128;

thread_local! {
    /// Units left in the current poll; `None` outside a runtime's poll (unlimited).
    static LEFT: Cell<Option<u8>> = const { Cell::new(None) };
    /// Tasks that ran out of budget, to wake after the ring and the timers had their turn.
    static DEFERRED: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

/// Runs `poll` (one poll of a task or of the `block_on` future) with a fresh budget, and puts
/// back the previous one afterwards (also if `poll` panics).
pub(crate) fn budgeted<R>(poll: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEFT.with(|left| left.set(self.0));
        }
    }
    let _restore = Restore(LEFT.with(|left| left.replace(Some(PER_POLL))));
    poll()
}

/// Asks for one unit before a budgeted future hands out a ready result. `Pending` when the
/// poll's budget is spent (the task is then woken at the end of the runtime's turn): return it
/// as the future's result.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let granted = LEFT.with(|left| match left.get() {
        Some(0) => false,
        Some(n) => {
            left.set(Some(n - 1));
            true
        }
        None => true,
    });
    if granted {
        Poll::Ready(())
    } else {
        defer(cx.waker());
        Poll::Pending
    }
}

fn defer(waker: &Waker) {
    let deferred = DEFERRED.try_with(|deferred| match deferred.try_borrow_mut() {
        Ok(mut deferred) => {
            deferred.push(waker.clone());
            true
        }
        Err(_) => false,
    });
    if deferred != Ok(true) {
        // Thread teardown (no list any more): waking at once still makes the task yield.
        waker.wake_by_ref();
    }
}

/// Moves the wakers of tasks that ran out of budget into `out`, for the runtime to wake once it
/// has serviced timers and the ring.
pub(crate) fn take_deferred(out: &mut Vec<Waker>) {
    // Teardown of this thread's slots: nothing was deferred that still runs.
    let _ = DEFERRED.try_with(|deferred| out.append(&mut deferred.borrow_mut()));
}

/// Whether a task waits in the deferred list: the runtime must not sleep in the kernel then.
pub(crate) fn has_deferred() -> bool {
    DEFERRED
        .try_with(|deferred| !deferred.borrow().is_empty())
        .unwrap_or(false)
}

/// Gives back the unit [`poll_proceed`] granted, when the result turned out not to be ready.
pub(crate) fn refund() {
    LEFT.with(|left| {
        if let Some(n) = left.get() {
            left.set(Some(n.saturating_add(1).min(PER_POLL)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::WakeCounter;

    #[test]
    fn a_poll_gets_its_units_then_pending_with_a_wake_and_the_old_budget_comes_back() {
        let count = WakeCounter::new();
        let waker = count.waker();
        let mut cx = Context::from_waker(&waker);
        let granted = budgeted(|| {
            let mut granted = 0;
            while poll_proceed(&mut cx).is_ready() {
                granted += 1;
            }
            refund();
            assert!(
                poll_proceed(&mut cx).is_ready(),
                "a refunded unit can be spent"
            );
            granted
        });
        assert_eq!(granted, usize::from(PER_POLL));
        assert_eq!(count.count(), 0, "not woken before the turn ends");
        assert!(has_deferred());
        let mut deferred = Vec::new();
        take_deferred(&mut deferred);
        assert!(!has_deferred());
        deferred.into_iter().for_each(Waker::wake);
        assert_eq!(count.count(), 1, "woken once, when refused");
        // Outside a budgeted poll: unlimited.
        for _ in 0..1000 {
            assert!(poll_proceed(&mut cx).is_ready());
        }
    }
}
