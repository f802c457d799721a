//! The thread-local "current runtime": which driver, timers and executor `Op`s, `Sleep`s and
//! `spawn` use on this thread while a runtime runs.
//!
//! # Thread exit
//!
//! A runtime or socket may itself live in a user's `thread_local!`, whose destructor can run
//! after these slots are destroyed (the thread's destructors run in reverse order of first use).
//! Touching a destroyed slot panics, and a panic in a thread-local destructor aborts the process.
//! So every access tolerates a destroyed slot as "no current runtime", and:
//!
//! * [`register`] touches all the slots, then [`ALIVE`], whenever a runtime is made or entered.
//!   A runtime made inside a thread-local's initializer therefore registers them first, and
//!   they outlive it: its drop runs normally.
//! * [`ALIVE`] is touched after the others, so it is destroyed before them: while it lives, all
//!   of them do. A runtime dropped after it (one put into an older thread-local) shuts down
//!   without entering, cancelling and reaping its ops as usual; its tasks are dropped with no
//!   runtime current.

use crate::buf::pool::{self, ReadPool};
use crate::driver::{self, DriverCell};
use crate::executor::{self, Executor};
use crate::time::{self, TimersCell};
use std::rc::Rc;

/// The per-thread parts of a runtime.
pub(crate) struct Core {
    pub(crate) executor: Rc<Executor>,
    pub(crate) driver: Rc<DriverCell>,
    pub(crate) timers: Rc<TimersCell>,
    /// The provided buffer rings socket readers share (see `buf::pool`).
    pub(crate) read_pool: Rc<ReadPool>,
}

/// Makes `core` current until dropped, then restores what was current before.
pub(crate) struct EnterGuard {
    previous: Previous,
    /// Whether `previous` holds what to restore (false once thread exit has begun).
    entered: bool,
}

/// What was current before: restored on exit.
type Previous = (
    Option<Rc<Executor>>,
    Option<Rc<DriverCell>>,
    Option<Rc<TimersCell>>,
    Option<Rc<ReadPool>>,
);

impl EnterGuard {
    /// Enters `core` to run it.
    ///
    /// # Panics
    ///
    /// If a runtime already runs on this thread: a nested `block_on` would stall the outer loop.
    #[track_caller]
    pub(crate) fn enter(core: &Core) -> Self {
        let guard = Self::enter_for_shutdown(core);
        if !guard.entered {
            panic!(
                "coring: block_on called while this thread is exiting (from a thread-local's \
                 destructor): the thread's runtime slots are gone. Run it before the thread ends"
            );
        }
        if guard.previous.0.is_some() {
            drop(guard);
            panic!(
                "coring: block_on called from inside a running runtime; a nested loop would \
                 stall the outer one. Spawn the future with coring::spawn or .await it instead"
            );
        }
        guard
    }

    /// Enters `core` even inside another runtime (dropping a runtime from within another).
    /// During thread exit, once this thread's slots are going, it enters nothing.
    pub(crate) fn enter_for_shutdown(core: &Core) -> Self {
        if !register() {
            return EnterGuard {
                previous: (None, None, None, None),
                entered: false,
            };
        }
        EnterGuard {
            previous: (
                executor::set_current(Some(core.executor.clone())),
                driver::set_current(Some(core.driver.clone())),
                time::set_current(Some(core.timers.clone())),
                pool::set_current(Some(core.read_pool.clone())),
            ),
            entered: true,
        }
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        if self.entered {
            executor::set_current(self.previous.0.take());
            driver::set_current(self.previous.1.take());
            time::set_current(self.previous.2.take());
            pool::set_current(self.previous.3.take());
        }
    }
}

/// Destroyed before the current-runtime slots (see the module docs): alive means they all are.
struct Alive;

impl Drop for Alive {
    // Only its destruction matters: a type with drop glue gets its destructor registered.
    fn drop(&mut self) {}
}

thread_local! {
    static ALIVE: Alive = const { Alive };
}

/// Registers this thread's current-runtime slots for destruction, then [`ALIVE`] after them.
/// Returns `false` once thread exit has begun destroying them: nothing can be made current.
pub(crate) fn register() -> bool {
    if ALIVE.try_with(|_| ()).is_err() {
        return false;
    }
    // Replacing a value with itself registers each slot's destructor on first use. `ALIVE` is
    // alive, so (being destroyed first) the slots are too.
    pool::set_current(pool::set_current(None));
    time::set_current(time::set_current(None));
    driver::set_current(driver::set_current(None));
    executor::set_current(executor::set_current(None));
    // First touched after the slots, so destroyed before them.
    ALIVE.with(|_| ());
    true
}
