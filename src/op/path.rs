//! [`OwnedPath`]: a NUL-terminated path the kernel reads while a path op is in flight.

use super::heap::Heap;
use std::ffi::CString;

/// A path on the heap, at an address that stays put while the op owning it moves, freed only
/// with the op data (after the final completion, even if the future was dropped).
pub(crate) struct OwnedPath {
    path: Heap<CString>,
}

impl OwnedPath {
    /// Moves `path` into a `Heap` of its own. The `CString`'s bytes are already on the heap;
    /// the extra allocation keeps the `CString` value itself from being moved (and re-asserted
    /// unique, see `heap.rs`) while the kernel holds a pointer into it.
    pub(crate) fn new(path: CString) -> Self {
        OwnedPath {
            path: Heap::new(path),
        }
    }

    /// The address handed to the kernel; valid until `self` is dropped.
    pub(crate) fn as_ptr(&self) -> *const libc::c_char {
        self.path.get().as_ptr()
    }
}
