//! Keeping user panics out of the worker: a task's future, output and joiner's waker are user
//! code, and a panic in their `Drop` (or a `Wake` impl) must not unwind through the executor,
//! which would leave a task half dropped. `raw_task.rs` runs every such call through these.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// A caught panic's payload.
pub(super) type Panic = Box<dyn std::any::Any + Send>;

/// Drops a caught panic's payload (the panic hook has already reported the panic). A payload
/// whose own `Drop` panics is forgotten: that second payload could do the same again.
pub(super) fn drop_panic(panic: Panic) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(panic))) {
        std::mem::forget(again);
    }
}

/// Drops `value` (user code: a future's output, a user's waker) so that a panicking `Drop`
/// does not unwind into the worker.
pub(super) fn drop_quietly<T>(value: T) {
    drop_quietly_with(value, drop);
}

/// Hands `value` to `f` (say `Waker::wake`, which runs a user's `Wake`) so that a panic there
/// does not unwind into the worker.
pub(super) fn drop_quietly_with<T>(value: T, f: impl FnOnce(T)) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(value))) {
        drop_panic(panic);
    }
}
