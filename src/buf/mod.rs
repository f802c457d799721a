//! Owned buffers handed to the kernel.
//!
//! io_uring reads and writes memory *after* the call that started the operation has returned, and
//! possibly after the future that started it was dropped. So coring never lends the kernel a
//! borrowed slice: every read and write takes the buffer by value and gives it back with the
//! result, as a [`BufResult`]. While an operation is in flight the runtime owns the buffer; if the
//! future is dropped early, the runtime keeps the buffer until the kernel has finished with it.
//!
//! [`IoBuf`] (readable memory, for writes/sends) and [`IoBufMut`] (writable memory, for
//! reads/receives) are `unsafe` traits because the kernel trusts the pointer and length they
//! report. Implementations are provided for `Vec<u8>`, `Box<[u8]>`, `String`, `&'static [u8]` and
//! `&'static str`; [`Slice`] narrows any of them to a sub-range.
//!
//! ```no_run
//! # async fn demo(stream: coring::net::TcpStream) -> std::io::Result<()> {
//! use coring::buf::IoBuf;
//! let (result, buf) = stream.read(Vec::with_capacity(4096)).await;
//! let n = result?;
//! // Echo back the bytes just read, without copying them.
//! let (result, _buf) = stream.write_all(buf.slice(..n)).await;
//! result?;
//! # Ok(()) }
//! ```

mod fixed;
mod region;
mod ring;
mod slice;

pub use fixed::{FixedBuf, FixedBufPool};
pub use ring::{BufRing, RingBuf};
pub use slice::Slice;

use std::io;

/// The result of an operation that took an owned buffer: the outcome and the buffer, given back
/// whether the operation succeeded or not.
pub type BufResult<T, B> = (io::Result<T>, B);

/// Memory the kernel may read from for the duration of an operation.
///
/// # Safety
///
/// `stable_ptr` must point to `bytes_init` initialized bytes that stay valid and do not move while
/// the value is owned by the runtime, even if the value itself is moved (so the bytes live on the
/// heap or in static memory, never inline). `bytes_init <= bytes_total`, and `bytes_total` bytes
/// starting at `stable_ptr` are allocated.
pub unsafe trait IoBuf: Unpin + 'static {
    /// Pointer to the first byte; stable across moves of `self`.
    fn stable_ptr(&self) -> *const u8;

    /// Number of initialized bytes: what a write sends.
    fn bytes_init(&self) -> usize;

    /// Total capacity in bytes.
    fn bytes_total(&self) -> usize;

    /// The index of the registered buffer this memory belongs to, if it is one (a
    /// [`FixedBuf`]). Fixed-buffer operations require it.
    fn fixed_index(&self) -> Option<u16> {
        None
    }

    /// Narrows the buffer to `range` (of the capacity), keeping ownership of the whole.
    ///
    /// # Panics
    ///
    /// If the range is out of the buffer's capacity.
    #[track_caller]
    fn slice(self, range: impl std::ops::RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        use std::ops::Bound;
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end && end <= self.bytes_total(),
            "slice range {begin}..{end} is out of the buffer's capacity {}",
            self.bytes_total()
        );
        Slice::new(self, begin, end)
    }
}

/// Memory the kernel may write into for the duration of an operation.
///
/// # Safety
///
/// As for [`IoBuf`], and `stable_mut_ptr` must be valid for writes of `bytes_total` bytes.
/// `set_init` must only ever grow the initialized prefix to what the kernel reported writing.
pub unsafe trait IoBufMut: IoBuf {
    /// Mutable pointer to the first byte; stable across moves of `self`.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `pos` bytes are initialized (after the kernel wrote them).
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must really be initialized, and `pos <= bytes_total()`.
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a Vec's heap buffer does not move when the Vec moves; len <= capacity.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for IoBuf; the spare capacity is writable.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if self.len() < pos {
            // SAFETY: the caller promises the first `pos <= capacity` bytes are initialized.
            unsafe { self.set_len(pos) };
        }
    }
}

// SAFETY: a boxed slice's bytes live on the heap and are all initialized.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: the boxed bytes are writable and already initialized.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: a String's bytes live on the heap; the kernel only reads them.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}
