//! The one place bytes from memory are copied into a caller's owned buffer.
//!
//! Copying bytes into an [`IoBufMut`] means writing through its raw pointer and then declaring
//! the bytes initialized, which `IoBufMut` only allows through `unsafe`. Readers that serve bytes
//! from memory (`BufReader`'s buffer, `&[u8]`, a datagram kept from a dropped receive) all go
//! through [`put_slice`], so that `unsafe` is written and checked once, here beside the buffer
//! contract it relies on.

use super::IoBufMut;

/// Copies as much of `src` as fits into `dst`, starting at `dst`'s first byte, marks the copied
/// bytes initialized, and returns how many were copied: `min(src.len(), dst.bytes_total())`.
///
/// This is what a read does: bytes land at the start of the buffer, and bytes of `dst` that were
/// already initialized past the copied ones stay as they were.
pub(crate) fn put_slice<B: IoBufMut>(dst: &mut B, src: &[u8]) -> usize {
    put_slice_at(dst, 0, src)
}

/// [`put_slice`] behind the first `at` bytes of `dst`, which a read into `dst` already filled
/// (a reader gathering several chunks into one buffer): returns how many bytes were copied,
/// `min(src.len(), dst.bytes_total() - at)`, and nothing if `at` is past the end or past the
/// bytes `dst` says are initialized (a gap of uninitialized bytes must never be declared
/// initialized).
pub(crate) fn put_slice_at<B: IoBufMut>(dst: &mut B, at: usize, src: &[u8]) -> usize {
    let n = src.len().min(dst.bytes_total().saturating_sub(at));
    if n == 0 || at > dst.bytes_init() {
        // An empty buffer's pointer may be dangling or null; touch nothing.
        return 0;
    }
    // SAFETY: `IoBufMut` promises `stable_mut_ptr` is valid for writes of `bytes_total` bytes and
    // `at + n` is no more than that; `src` is valid for reads of `n` bytes. `ptr::copy` is a
    // memmove, so it is correct even if a strange buffer type aliased `src`.
    unsafe { std::ptr::copy(src.as_ptr(), dst.stable_mut_ptr().add(at), n) };
    // SAFETY: bytes `..at` are initialized (`at <= bytes_init`, checked above), and
    // `at..at + n <= bytes_total` were written by the copy just above.
    unsafe { dst.set_init(at + n) };
    n
}

#[cfg(test)]
mod tests {
    use super::{put_slice, put_slice_at};
    use crate::buf::IoBuf;

    #[test]
    fn gathers_behind_what_is_already_there_and_stops_at_the_end() {
        let mut buf = Vec::with_capacity(6);
        assert_eq!(put_slice(&mut buf, b"abcd"), 4);
        assert_eq!(
            put_slice_at(&mut buf, 4, b"efgh"),
            buf.capacity().min(8) - 4
        );
        assert_eq!(&buf[..6], b"abcdef");
        let past_the_end = buf.capacity() + 1;
        assert_eq!(put_slice_at(&mut buf, past_the_end, b"x"), 0);
    }

    #[test]
    fn never_declares_a_gap_of_uninitialized_bytes_initialized() {
        let mut buf = Vec::with_capacity(8);
        assert_eq!(put_slice_at(&mut buf, 4, b"ab"), 0);
        assert_eq!(buf.len(), 0);
    }

    #[test]
    fn copies_what_fits_from_the_start() {
        let mut buf = Vec::with_capacity(4);
        assert_eq!(put_slice(&mut buf, b"abcdef"), buf.capacity().min(6));
        assert_eq!(&buf[..4], b"abcd");
    }

    #[test]
    fn overwrites_the_start_and_keeps_the_rest() {
        let mut buf = b"xxxxxx".to_vec();
        assert_eq!(put_slice(&mut buf, b"ab"), 2);
        assert_eq!(buf, b"abxxxx");
    }

    #[test]
    fn into_a_slice_lands_at_its_begin() {
        let mut buf = Vec::with_capacity(8);
        buf.extend_from_slice(b"12");
        let mut slice = buf.slice(2..5);
        assert_eq!(put_slice(&mut slice, b"abcdef"), 3);
        assert_eq!(slice.into_inner(), b"12abc");
    }

    #[test]
    fn empty_buffer_takes_nothing() {
        let mut buf: Box<[u8]> = Box::new([]);
        assert_eq!(put_slice(&mut buf, b"abc"), 0);
    }
}
