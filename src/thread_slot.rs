//! The per-thread "current" slots (executor, driver, timers, read pool): each module keeps its
//! own `thread_local!` `RefCell<Option<T>>`, which `runtime::context`'s enter guard sets while a
//! runtime runs and restores after. Setting one is the same everywhere, so it is written once.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Puts `value` in `slot` and returns what was there. Once the slot is destroyed (thread exit)
/// nothing is current, and `value` is handed back instead.
pub(crate) fn replace<T>(
    slot: &'static LocalKey<RefCell<Option<T>>>,
    value: Option<T>,
) -> Option<T> {
    let mut value = Some(value);
    slot.try_with(|current| std::mem::replace(&mut *current.borrow_mut(), value.take().flatten()))
        .unwrap_or_else(|_| value.flatten())
}
