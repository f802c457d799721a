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
//! report. `Vec<u8>` and `Box<[u8]>` implement both; `String`, `&'static [u8]` and
//! `&'static str` only [`IoBuf`], for writes (a read could break a `String`'s UTF-8, and static
//! memory is immutable). With the `bytes` feature, `bytes::BytesMut` implements both and `bytes::Bytes`
//! only [`IoBuf`] (it is immutable). [`Slice`] narrows any of them to a sub-range. A `Bytes`
//! clone per connection writes one allocation to many sockets without copying it.
//!
//! # Why no window can outlive its memory
//!
//! An operation reads a buffer's pointer and length (`stable_ptr`, `bytes_total` or
//! `bytes_init`) when it builds its submission, while it **owns** the buffer, and keeps owning
//! it until the kernel's last completion: no safe code can reach the buffer in that time. So a
//! buffer may change freely between operations, provided that what it reports is re-read from
//! its current state on every call. The `&mut` the buffer types hand out, and why each is
//! harmless:
//!
//! - [`Slice::get_mut`] gives `&mut B`: the inner buffer may shrink or be replaced. A `Slice`
//!   does not trust the range it was made with; every method cuts `begin..end` to the inner
//!   buffer's capacity *at that call*, so it reports at most the memory the inner buffer has
//!   (issue 18: a read into a slice whose `Vec` had been shrunk used to overflow the heap).
//! - `Vec<u8>`, `Box<[u8]>`, `String` are the user's own values between operations; their
//!   `IoBuf` methods read their current pointer, length and capacity.
//! - [`FixedBuf`] derefs to `&mut [u8]` over its initialized bytes, within its slot of the
//!   pool's region; its length is private and bounded by the slot size, and the region is freed
//!   only after every `FixedBuf` (each holds the pool) is gone. [`RingBuf`] hands out no `&mut`
//!   at all, only a `truncate` that can shorten it.
//! - [`FixedBufPool`] and [`BufRing`] hand out no references to their memory; it lives in a
//!   fixed region freed after the last buffer and the last operation naming it.
//! - `io::BufReader::get_mut` and `io::BufWriter::get_mut` give the inner reader or writer,
//!   never their internal buffer, which they lend to operations by value.
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

/// Implements [`IoBuf`] for a buffer whose bytes start at `as_ptr()`, whose first `len()` are
/// initialized, and which has room for `$total()` (`len` or `capacity`). The invocation's
/// `SAFETY` comment says why the pointer stays put and the bytes stay alive.
macro_rules! io_buf_impl {
    ($buf:ty, total: $total:ident) => {
        // SAFETY: the invocation's comment.
        unsafe impl IoBuf for $buf {
            fn stable_ptr(&self) -> *const u8 {
                self.as_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.len()
            }
            fn bytes_total(&self) -> usize {
                self.$total()
            }
        }
    };
}

/// Implements [`IoBufMut`] for a growable buffer (`Vec<u8>`, `BytesMut`) whose initialized
/// prefix is its `len`, writable up to its capacity.
macro_rules! io_buf_mut_by_len {
    ($buf:ty) => {
        // SAFETY: the invocation's comment.
        unsafe impl IoBufMut for $buf {
            fn stable_mut_ptr(&mut self) -> *mut u8 {
                self.as_mut_ptr()
            }
            unsafe fn set_init(&mut self, pos: usize) {
                if self.len() < pos {
                    // SAFETY: the caller promises the first `pos <= capacity` bytes are
                    // initialized.
                    unsafe { self.set_len(pos) };
                }
            }
        }
    };
}

#[cfg(feature = "bytes")]
mod bytes;
mod fixed;
pub(crate) mod pool;
mod put;
mod region;
mod ring;
mod slice;

pub use fixed::{FixedBuf, FixedBufPool};
pub use pool::ReadPath;
pub(crate) use put::{put_slice, put_slice_at};
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
///
/// The methods must return **consistent values**: what they report describes the value's memory
/// as it is at the call, and does not change between calls unless the value was mutated through
/// `&mut` in between (the runtime reads the pointer and the lengths in separate calls and relies
/// on them agreeing). They must **not re-enter the runtime** (spawn, start or drop operations,
/// call `block_on`, wake tasks): the runtime may call them while it is busy with its ring.
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
        // `checked_add`: a bound at usize::MAX must panic as out of range, not wrap to 0.
        let begin = match range.start_bound() {
            Bound::Included(&n) => Some(n),
            Bound::Excluded(&n) => n.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1),
            Bound::Excluded(&n) => Some(n),
            Bound::Unbounded => Some(self.bytes_total()),
        };
        let total = self.bytes_total();
        match (begin, end) {
            (Some(begin), Some(end)) if begin <= end && end <= total => {
                Slice::new(self, begin, end)
            }
            _ => panic!(
                "slice range {:?}..{:?} is out of the buffer's capacity {total}",
                range.start_bound(),
                range.end_bound()
            ),
        }
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
io_buf_impl!(Vec<u8>, total: capacity);

// SAFETY: as for IoBuf; the spare capacity is writable.
io_buf_mut_by_len!(Vec<u8>);

// SAFETY: a boxed slice's bytes live on the heap and are all initialized.
io_buf_impl!(Box<[u8]>, total: len);

// SAFETY: the boxed bytes are writable and already initialized.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: a String's bytes live on the heap; the kernel only reads them.
io_buf_impl!(String, total: capacity);

// SAFETY: static memory never moves and is never freed.
io_buf_impl!(&'static [u8], total: len);

// SAFETY: static memory never moves and is never freed.
io_buf_impl!(&'static str, total: len);
