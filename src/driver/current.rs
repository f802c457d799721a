//! The current thread's driver: set while a runtime runs (or shuts down) on this thread.
//!
//! The one way code with no handle (an op's first poll, a `SharedFd` closing) finds its
//! runtime. It is read at exactly those moments and never cached across them: runtimes nest
//! (a runtime built and run inside another's task shares its thread), so "current" is a stack
//! the runtime's enter guard pushes and pops, kept here as one slot plus the guard's saved
//! value.
//!
//! Every accessor but [`current`] uses `try_with` and `try_borrow`: they run from destructors
//! (a socket dropped at thread exit, an fd dropped while the slot is being replaced), where a
//! panic would abort the process. Failing to find a driver there means "close synchronously",
//! which is always correct, only slower.

use super::{Driver, DriverCell};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    /// Set by the runtime for as long as it runs or shuts down on this thread (and restored to
    /// the previous value after, by the runtime's enter guard). Ops read it once, at
    /// their first poll; after that they hold their own `Rc`, so an op never depends on which
    /// runtime is current when it is polled again or dropped.
    static CURRENT: RefCell<Option<Rc<DriverCell>>> = const { RefCell::new(None) };
}

/// Makes `driver` the current thread's driver, returning the previous one. Once the slot is
/// destroyed (thread exit) nothing is current, and `driver` is handed back instead, so the
/// caller drops it outside the thread-local machinery.
pub(crate) fn set_current(driver: Option<Rc<DriverCell>>) -> Option<Rc<DriverCell>> {
    crate::thread_slot::replace(&CURRENT, driver)
}

/// The current thread's driver.
///
/// # Panics
///
/// Outside a coring runtime: an op polled by another executor, or after its `block_on`
/// returned with nothing else current. The message says where I/O must run; there is no
/// error path because an op future has no way to report one before it has a backend.
#[track_caller]
pub(crate) fn current() -> Rc<DriverCell> {
    CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .expect(
            "coring: no runtime on this thread; I/O and timers must run inside coring::block_on, \
         Runtime::block_on or a task spawned there",
        )
}

/// Whether `driver` is the current thread's driver: false while `CURRENT` is being changed
/// (borrowed) or destroyed, which callers treat as "another runtime's".
///
/// Asked by code tied to one ring: a stream waiting for a dropped op's final completion
/// (`op/loss.rs`) errs instead of sleeping on a ring nobody reaps, and a `BufRing`
/// (`buf/ring.rs`) refuses a receive on another runtime, whose ring knows its group id as
/// some other group or none.
pub(crate) fn is_current(driver: &Rc<DriverCell>) -> bool {
    CURRENT
        .try_with(|c| {
            c.try_borrow()
                .is_ok_and(|current| current.as_ref().is_some_and(|d| Rc::ptr_eq(d, driver)))
        })
        .unwrap_or(false)
}

/// The current thread's driver as a weak reference (empty outside a runtime): the owner unit
/// tests give a watch they abandon by hand (an op names the runtime it was submitted to).
#[cfg(test)]
pub(crate) fn current_weak() -> std::rc::Weak<DriverCell> {
    CURRENT
        .try_with(|c| {
            c.try_borrow()
                .ok()
                .and_then(|current| current.as_ref().map(Rc::downgrade))
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Runs `f` on the current driver if there is one and it is not borrowed right now. A slot
/// destroyed at thread exit counts as none (a socket dropped by another thread-local's
/// destructor then closes synchronously).
///
/// "Not borrowed" makes it safe to call from anywhere, even from code running while the
/// driver is borrowed further up the stack: every caller has a way that needs no driver
/// (`src/fd.rs` closes the fd at once, a cross-thread wake writes the eventfd), so `None`
/// costs a little speed, where a second borrow would panic inside the driver.
pub(crate) fn try_with_current<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| {
            let current = c.try_borrow().ok()?;
            let driver = current.as_ref()?;
            let mut driver = driver.try_borrow_mut().ok()?;
            Some(f(&mut driver))
        })
        .ok()
        .flatten()
}
