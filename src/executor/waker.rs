//! Task wakers: a task header pointer plus one counted reference; the same vtable for every
//! task, since waking only touches the header's atomic state and queues the task.

use super::raw_task::{header, release, Header, TaskRef};
use super::state::WakeByValue;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

/// Wakers are the same for every task: they only touch the header.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// A waker that borrows the caller's reference: polling does not touch the reference count
/// unless the future clones the waker.
pub(super) fn borrowed_waker(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE);
    // SAFETY: the vtable below upholds the RawWaker contract for a task header pointer; the
    // ManuallyDrop makes this waker not own a reference, and it is only used while the caller's
    // reference keeps the task alive.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

fn waker_ptr(ptr: *const ()) -> NonNull<Header> {
    // Every RawWaker with WAKER_VTABLE carries a task's header pointer, never null.
    NonNull::new(ptr.cast_mut().cast::<Header>()).expect("coring: null task waker")
}

// The four functions below are a `RawWakerVTable`'s, called only through a `Waker` whose data
// pointer is a task header and which owns (or, for `borrowed_waker`, borrows) one reference.

/// # Safety
///
/// `ptr` is a task header pointer kept alive by the waker being cloned.
unsafe fn waker_clone(ptr: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds (or borrows) a reference, so the task is live.
    unsafe { header(waker_ptr(ptr)) }.state.ref_inc();
    RawWaker::new(ptr, &WAKER_VTABLE)
}

/// # Safety
///
/// `ptr` is a task header pointer whose waker owns one reference, given up here.
unsafe fn waker_wake(ptr: *const ()) {
    let ptr = waker_ptr(ptr);
    // SAFETY: an owned waker carries one reference, which keeps the task alive until the
    // transition below takes it over.
    let header = unsafe { header(ptr) };
    let dealloc = header.vtable.dealloc;
    match header.state.schedule_by_value() {
        // The waker's reference is now the queue entry's.
        WakeByValue::Queue => TaskRef(ptr).queue(),
        WakeByValue::Released(false) => {}
        // SAFETY: that was the last reference: nobody else can reach the task.
        WakeByValue::Released(true) => unsafe { dealloc(ptr) },
    }
}

/// # Safety
///
/// `ptr` is a task header pointer kept alive by the waker for the call.
unsafe fn waker_wake_by_ref(ptr: *const ()) {
    let ptr = waker_ptr(ptr);
    // SAFETY: the waker keeps the task alive during the call.
    if unsafe { header(ptr) }.state.schedule_by_ref() {
        // The reference taken by `schedule_by_ref` is the queue entry's.
        TaskRef(ptr).queue();
    }
}

/// # Safety
///
/// `ptr` is a task header pointer whose waker owns one reference, given up here.
unsafe fn waker_drop(ptr: *const ()) {
    // SAFETY: an owned waker carries one reference, released here.
    unsafe { release(waker_ptr(ptr)) }
}
