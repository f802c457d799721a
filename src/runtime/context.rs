//! The thread-local "current runtime": which driver, timers and executor `Op`s, `Sleep`s and
//! `spawn` use on this thread while a runtime runs.

use crate::driver::{self, DriverCell};
use crate::executor::{self, Executor};
use crate::time::{self, TimersCell};
use std::rc::Rc;

/// The per-thread parts of a runtime.
pub(crate) struct Core {
    pub(crate) executor: Rc<Executor>,
    pub(crate) driver: Rc<DriverCell>,
    pub(crate) timers: Rc<TimersCell>,
}

/// Makes `core` current until dropped, then restores what was current before.
pub(crate) struct EnterGuard {
    previous: Previous,
}

/// What was current before: restored on exit.
type Previous = (
    Option<Rc<Executor>>,
    Option<Rc<DriverCell>>,
    Option<Rc<TimersCell>>,
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
    pub(crate) fn enter_for_shutdown(core: &Core) -> Self {
        EnterGuard {
            previous: (
                executor::set_current(Some(core.executor.clone())),
                driver::set_current(Some(core.driver.clone())),
                time::set_current(Some(core.timers.clone())),
            ),
        }
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        executor::set_current(self.previous.0.take());
        driver::set_current(self.previous.1.take());
        time::set_current(self.previous.2.take());
    }
}
