//! Wakers that misbehave in ways the `Waker` contract allows, for tests that check a panic in
//! user code leaves the runtime's invariants intact.

use std::task::{RawWaker, RawWakerVTable, Waker};

/// A waker whose every clone panics: a user's waker may do that (the `RawWaker` contract does
/// not forbid it), and a clone is what registering a waker anywhere costs.
pub fn panicking_on_clone() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        panic!("this waker refuses to be cloned");
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the data pointer is never dereferenced and every vtable function is sound for it.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}
