//! `Region`: a zeroed, aligned block of memory at a fixed address, shared by the kernel.

use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;

/// Heap memory that never moves, handed out as raw pointers (never as `&mut` to the whole,
/// since the kernel and several buffers write disjoint parts of it at once).
pub(crate) struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Region {
    pub(crate) fn new(len: usize, align: usize) -> io::Result<Region> {
        let layout = Layout::from_size_align(len.max(1), align)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("coring: cannot allocate {len} bytes"),
            )
        })?;
        Ok(Region { ptr, layout })
    }

    /// Address of byte `offset`.
    ///
    /// # Panics
    ///
    /// If `offset` is past the end.
    pub(crate) fn at(&self, offset: usize) -> *mut u8 {
        assert!(
            offset <= self.layout.size(),
            "coring: offset past the region"
        );
        // SAFETY: within the allocation (or one past its end), checked above.
        unsafe { self.ptr.as_ptr().add(offset) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once. Owners drop a region only
        // after unregistering it and after every op using it completed.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}
