//! [`IoBuf`] and [`IoBufMut`] for the `bytes` crate's buffers (feature `bytes`).
//!
//! Neither type ever stores its bytes inline: a `Bytes` points into static memory or a
//! (possibly shared) heap allocation, a `BytesMut` into a heap allocation it alone may write,
//! so the pointer they report stays put when the value moves into an operation. A `Bytes` is
//! immutable, so an operation holding one clone while other clones go to other connections is
//! sound: the kernel only reads, and the memory lives until the last clone goes. That is how a
//! broadcast writes one allocation to many sockets without copying it per client.
//!
//! With [`IoBuf`] in scope, `bytes.slice(range)` on a `Bytes` value resolves to
//! [`IoBuf::slice`] (it takes `self`, which method lookup tries before `Bytes::slice(&self)`)
//! and gives a [`Slice`](super::Slice); write `Bytes::slice(&bytes, range)` for a `Bytes`.

use super::{IoBuf, IoBufMut};
use bytes::{Bytes, BytesMut};

// SAFETY: a `Bytes` views static memory or a refcounted heap allocation that lives while this
// handle does and never moves; its bytes are all initialized and never written through it.
io_buf_impl!(Bytes, total: len);

// SAFETY: a `BytesMut` views a heap allocation (or, with no capacity, nothing) that does not
// move with the handle; `len <= capacity`, and the `capacity` bytes it reports belong to this
// view alone (`split_off` and friends hand out disjoint views), so nobody else reads or writes
// them while an operation owns the handle.
io_buf_impl!(BytesMut, total: capacity);

// SAFETY: as for `IoBuf`; the spare capacity of the view is writable.
io_buf_mut_by_len!(BytesMut);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bytes_reports_its_view_and_keeps_its_pointer_when_moved() {
        let whole = Bytes::from(b"hello world".to_vec());
        // `IoBuf::slice` (by value) would win over the inherent `Bytes::slice` (by reference).
        let part = Bytes::slice(&whole, 6..);
        let ptr = part.stable_ptr();
        let moved = Box::new(part);
        assert_eq!(moved.stable_ptr(), ptr);
        assert_eq!((moved.bytes_init(), moved.bytes_total()), (5, 5));
        assert_eq!(ptr, whole[6..].as_ptr());
    }

    #[test]
    fn a_bytes_mut_offers_its_spare_capacity_and_grows_only_to_what_was_written() {
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(b"ab");
        assert_eq!((buf.bytes_init(), buf.bytes_total()), (2, buf.capacity()));
        // SAFETY: the first 4 bytes are written just before.
        unsafe {
            buf.stable_mut_ptr().add(2).copy_from(b"cd".as_ptr(), 2);
            buf.set_init(4);
            buf.set_init(1); // never shrinks
        }
        assert_eq!(&buf[..], b"abcd");
    }

    #[test]
    fn split_views_of_a_bytes_mut_report_disjoint_memory() {
        let mut head = BytesMut::with_capacity(64);
        let tail = head.split_off(32);
        let head_end = head.stable_ptr() as usize + head.bytes_total();
        assert!(head_end <= tail.stable_ptr() as usize);
    }
}
