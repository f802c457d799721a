//! [`QuarantineBuf`]: an I/O buffer that catches the kernel writing into it after the runtime
//! let go of it (hazard H1: a buffer freed while its op is still in flight).
//!
//! Sanitizers cannot see kernel writes, and a freed heap buffer that the kernel later fills
//! corrupts whatever reuses that memory, silently. So each `QuarantineBuf` is its own `mmap`:
//! when dropped it is filled with a poison pattern and kept, unmapped only after
//! [`QUARANTINE`] more buffers were released; the pattern is checked when it leaves the
//! quarantine and by [`check_quarantine`]. A runtime that frees an abandoned read's buffer
//! before the read's final completion lets the kernel write into poisoned memory: a *late
//! write*, counted and reported, never a corrupted neighbour. The mappings live outside the
//! heap, so tests that count heap bytes are not disturbed.

use coring::buf::{IoBuf, IoBufMut};
use std::collections::VecDeque;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;

/// Released buffers kept poisoned before they are unmapped.
pub const QUARANTINE: usize = 4096;
const POISON: u8 = 0xA5;

struct Released {
    ptr: NonNull<u8>,
    map_len: usize,
}

// SAFETY: a released mapping is only read (to check the poison) and unmapped, under the mutex.
unsafe impl Send for Released {}

static RELEASED: Mutex<VecDeque<Released>> = Mutex::new(VecDeque::new());
static LATE_WRITES: AtomicU64 = AtomicU64::new(0);

/// A buffer in its own mapping, poisoned and kept for a while once dropped. See the module docs.
#[derive(Debug)]
pub struct QuarantineBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
    map_len: usize,
}

impl QuarantineBuf {
    /// A zeroed buffer of `capacity` bytes (at least one page is mapped).
    pub fn new(capacity: usize) -> QuarantineBuf {
        let page = 4096;
        let map_len = capacity.max(1).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping of `map_len` bytes; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(
            ptr,
            libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        QuarantineBuf {
            ptr: NonNull::new(ptr.cast()).expect("mmap returned null"),
            capacity,
            len: 0,
            map_len,
        }
    }
}

impl Deref for QuarantineBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len` bytes at the start of our mapping are initialized (zeroed or written).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for QuarantineBuf {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and still mapped; nothing in user space refers to it now.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), POISON, self.map_len) };
        let evicted = {
            let mut released = RELEASED.lock().unwrap_or_else(|e| e.into_inner());
            // Full size at once: a queue that grows later would show up in heap-delta checks.
            released.reserve(QUARANTINE + 1);
            released.push_back(Released {
                ptr: self.ptr,
                map_len: self.map_len,
            });
            if released.len() > QUARANTINE {
                released.pop_front()
            } else {
                None
            }
        };
        if let Some(old) = evicted {
            check_and_unmap(old);
        }
    }
}

fn check_and_unmap(released: Released) {
    // SAFETY: the mapping is still mapped (only this function unmaps it, once) and readable.
    let bytes = unsafe { std::slice::from_raw_parts(released.ptr.as_ptr(), released.map_len) };
    if bytes.iter().any(|&b| b != POISON) {
        LATE_WRITES.fetch_add(1, SeqCst);
    }
    // SAFETY: unmaps exactly the mapping made in `QuarantineBuf::new`; no reference remains.
    unsafe { libc::munmap(released.ptr.as_ptr().cast(), released.map_len) };
}

/// Checks (and unmaps) every buffer still in quarantine; returns the late writes seen so far
/// (buffers the kernel wrote into after they were released).
pub fn check_quarantine() -> u64 {
    let all: Vec<Released> = RELEASED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    for released in all {
        check_and_unmap(released);
    }
    LATE_WRITES.load(SeqCst)
}

// SAFETY: the pointer is the start of our mapping, which stays mapped and in place until drop
// (moving the struct moves only the pointer); `len` bytes are initialized.
unsafe impl IoBuf for QuarantineBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }

    fn bytes_total(&self) -> usize {
        self.capacity
    }
}

// SAFETY: as above; the mapping is writable for `capacity` bytes, all zero-initialized.
unsafe impl IoBufMut for QuarantineBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    unsafe fn set_init(&mut self, pos: usize) {
        self.len = self.len.max(pos.min(self.capacity));
    }
}
