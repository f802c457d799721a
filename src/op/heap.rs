//! [`Heap<T>`]: a heap allocation the kernel may point at.
//!
//! Ops keep socket addresses, lengths and message headers here rather than in a `Box`: a `Box`
//! asserts unique access every time it is moved, which (under Rust's aliasing rules) would
//! invalidate the raw pointer already handed to the kernel. `Heap` holds only a raw pointer, so
//! moving the op moves nothing the kernel sees and asserts nothing about it.
//!
//! The rule for using one: write through [`Heap::get_mut`] only before the entry is submitted
//! (filling in a header), read through [`Heap::get`] only after the final completion, and
//! between the two hand the kernel [`Heap::as_ptr`] and touch nothing. The `Heap` cannot check
//! this; the ops' `// SAFETY:` comments say where each access falls.
//!
//! A raw pointer makes `Heap<T>` neither `Send` nor `Sync`, whatever `T` is: op data lives and
//! dies on its runtime's thread, and the compiler keeps it there.

use std::ptr::NonNull;

/// A value on the heap at an address that never changes until the `Heap` is dropped.
pub(crate) struct Heap<T> {
    /// From `Box::leak`: owned by this `Heap` alone and freed in its `Drop`, but never
    /// reborrowed as a `Box` in between, so no move asserts uniqueness over it.
    ptr: NonNull<T>,
}

impl<T> Heap<T> {
    /// Moves `value` to the heap: one allocation, made when the op is built, never on a poll.
    pub(crate) fn new(value: T) -> Self {
        Heap {
            ptr: NonNull::from(Box::leak(Box::new(value))),
        }
    }

    /// The address handed to the kernel; valid until `self` is dropped.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// The value, read after the kernel has finished with it (in `complete` or `dispose`).
    pub(crate) fn get(&self) -> &T {
        // SAFETY: the pointer came from a live Box we own. Ops only call this once their final
        // completion arrived (or before submitting), so the kernel is not writing meanwhile.
        unsafe { self.ptr.as_ref() }
    }

    /// The value, mutably, under the same rule as [`Heap::get`].
    pub(crate) fn get_mut(&mut self) -> &mut T {
        // SAFETY: as in `get`; `&mut self` rules out other Rust references.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for Heap<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed exactly once, here. An
        // op's `Heap` is dropped only after its final completion (the driver keeps abandoned op
        // data until then), so the kernel no longer points at it.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn heap_keeps_its_address_across_moves() {
        let heap = Heap::new([7u8; 16]);
        let before = heap.as_ptr();
        let moved = [heap];
        assert_eq!(moved[0].as_ptr(), before);
        assert_eq!(moved[0].get(), &[7u8; 16]);
    }

    #[test]
    fn heap_drops_its_value_once() {
        let rc = Rc::new(());
        let heap = Heap::new(rc.clone());
        assert_eq!(Rc::strong_count(&rc), 2);
        drop(heap);
        assert_eq!(Rc::strong_count(&rc), 1);
    }
}
