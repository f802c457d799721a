//! [`Slice`]: an owned sub-range of a buffer.

use super::{IoBuf, IoBufMut};
use std::ops;

/// A sub-range `begin..end` of an owned buffer, itself usable as a buffer.
///
/// Reads into a `Slice` fill from `begin`; writes from it send the initialized bytes in
/// `begin..end`. [`Slice::into_inner`] gives the whole buffer back. A read into a slice that
/// begins past the buffer's initialized bytes zeroes the bytes in between, so that the whole
/// buffer up to the end of the read is initialized.
///
/// [`get_mut`](Slice::get_mut) lets the inner buffer change while the slice holds it, even
/// shrink (`Vec::shrink_to_fit`) or be replaced by a smaller one. So the window is measured
/// against the inner buffer **every time it is used**: the slice reaches `begin..end` cut to the
/// inner buffer's current capacity, and is empty if that ends before `begin` (a read into it
/// returns `Ok(0)` at once). [`begin`](Slice::begin) and [`end`](Slice::end) report the range it
/// was made with.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    pub(crate) fn new(buf: B, begin: usize, end: usize) -> Self {
        Slice { buf, begin, end }
    }

    /// Offset of the slice's first byte in the underlying buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Offset one past the slice's last byte in the underlying buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The underlying buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// The underlying buffer, mutably. Changing its capacity changes what the slice reaches
    /// (see the type's docs); it never lets the slice reach past the buffer's memory.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.buf
    }

    /// Gives back the whole underlying buffer.
    pub fn into_inner(self) -> B {
        self.buf
    }

    /// The range the slice reaches now, `begin..end` cut to the inner buffer's capacity:
    /// `begin <= end <= bytes_total()` of the inner buffer, always.
    fn window(&self) -> (usize, usize) {
        let end = self.end.min(self.buf.bytes_total());
        (self.begin.min(end), end)
    }
}

impl<B: IoBuf> ops::Deref for Slice<B> {
    type Target = [u8];

    /// The initialized bytes of the slice.
    fn deref(&self) -> &[u8] {
        let (begin, end) = self.window();
        let init = self.buf.bytes_init().clamp(begin, end);
        // SAFETY: IoBuf promises `bytes_init` initialized bytes at `stable_ptr`; `begin..init`
        // lies within them (and `begin <= bytes_total`, so the offset stays in the allocation).
        unsafe { std::slice::from_raw_parts(self.buf.stable_ptr().add(begin), init - begin) }
    }
}

// SAFETY: `window` keeps `begin <= end <= bytes_total` of the inner buffer, measured on every
// call, so the range lies within the inner buffer's memory, stable by its own contract, however
// the inner buffer changed through `get_mut` since the slice was made.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: begin <= bytes_total, so the offset stays within (or one past) the allocation.
        unsafe { self.buf.stable_ptr().add(self.window().0) }
    }
    fn bytes_init(&self) -> usize {
        let (begin, end) = self.window();
        self.buf.bytes_init().clamp(begin, end) - begin
    }
    fn bytes_total(&self) -> usize {
        let (begin, end) = self.window();
        end - begin
    }
    fn fixed_index(&self) -> Option<u16> {
        self.buf.fixed_index()
    }
}

// SAFETY: as above; `set_init` translates to the inner buffer's offsets.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        let begin = self.window().0;
        // SAFETY: begin <= bytes_total, so the offset stays within (or one past) the allocation.
        unsafe { self.buf.stable_mut_ptr().add(begin) }
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if pos == 0 {
            return;
        }
        let begin = self.window().0;
        // The inner buffer's initialized prefix may end before `begin` (a read into
        // `Vec::with_capacity(n).slice(k..)`); declaring `begin + pos` bytes initialized would
        // then expose the gap's old heap contents. Zero the gap first: it is disjoint from the
        // `begin..begin + pos` the kernel wrote.
        let init = self.buf.bytes_init();
        if init < begin {
            // SAFETY: `init < begin <= bytes_total`, and `IoBufMut` promises `stable_mut_ptr` is
            // valid for writes of `bytes_total` bytes; no other reference to the gap exists.
            unsafe { std::ptr::write_bytes(self.buf.stable_mut_ptr().add(init), 0, begin - init) };
        }
        // SAFETY: bytes `..init` were initialized, `init..begin` are zeroed just above (or
        // empty), and the caller promises the `pos <= bytes_total()` bytes from `begin` are.
        unsafe { self.buf.set_init(begin + pos) }
    }
}

#[cfg(test)]
mod tests {
    use crate::buf::{IoBuf, IoBufMut};

    #[test]
    fn slice_reports_its_own_window() {
        let buf = b"hello world".to_vec();
        let s = buf.slice(6..);
        assert_eq!(&s[..], b"world");
        assert_eq!(s.bytes_total(), s.get_ref().capacity() - 6);
        assert_eq!(s.into_inner(), b"hello world");
    }

    #[test]
    fn set_init_through_a_slice_grows_the_vec() {
        let mut buf = Vec::with_capacity(8);
        buf.extend_from_slice(b"ab");
        let mut s = buf.slice(2..6);
        // SAFETY: write two bytes at the slice start, then declare them initialized.
        unsafe {
            s.stable_mut_ptr().write_bytes(b'z', 2);
            s.set_init(2);
        }
        assert_eq!(s.into_inner(), b"abzz");
    }

    #[test]
    fn set_init_past_the_initialized_bytes_zeroes_the_gap() {
        // Fill a block, free it, and take it again, so the gap would hold stale bytes.
        drop(vec![0xAAu8; 64]);
        let buf = Vec::<u8>::with_capacity(64);
        let mut s = buf.slice(40..);
        // SAFETY: write one byte at the slice start, then declare it initialized.
        unsafe {
            s.stable_mut_ptr().write(b'x');
            s.set_init(1);
        }
        let buf = s.into_inner();
        assert_eq!(buf.len(), 41);
        assert!(buf[..40].iter().all(|&b| b == 0), "gap not zeroed: {buf:?}");
        assert_eq!(buf[40], b'x');
    }

    #[test]
    fn set_init_of_nothing_past_the_initialized_bytes_leaves_the_length() {
        let mut buf = Vec::with_capacity(8);
        buf.extend_from_slice(b"ab");
        let mut s = buf.slice(5..);
        // SAFETY: zero bytes are claimed.
        unsafe { s.set_init(0) };
        assert_eq!(s.into_inner(), b"ab");
    }

    #[test]
    #[should_panic(expected = "out of the buffer's capacity")]
    fn slice_to_usize_max_inclusive_panics() {
        let _ = Vec::<u8>::with_capacity(4).slice(..=usize::MAX);
    }

    #[test]
    #[should_panic(expected = "out of the buffer's capacity")]
    fn slice_from_past_usize_max_panics() {
        use std::ops::Bound;
        let _ = Vec::<u8>::with_capacity(4).slice((Bound::Excluded(usize::MAX), Bound::Unbounded));
    }

    #[test]
    fn a_shrunk_inner_buffer_shrinks_the_window() {
        let mut s = Vec::<u8>::with_capacity(64).slice(8..64);
        s.get_mut().extend_from_slice(&[1; 16]);
        s.get_mut().shrink_to_fit();
        let cap = s.get_ref().capacity();
        assert!(cap < 64, "the test needs the Vec really shrunk");
        assert_eq!(
            s.bytes_total(),
            cap - 8,
            "the window must fit in the memory left"
        );
        assert_eq!(s.bytes_init(), cap - 8);
        assert_eq!(s.len(), cap - 8);
        // Shrunk below the slice's begin: an empty window, whose pointer is no further than one
        // past the allocation.
        s.get_mut().truncate(4);
        s.get_mut().shrink_to_fit();
        assert_eq!(s.bytes_total(), 0);
        assert_eq!(s.len(), 0);
        let (start, ptr) = (s.get_ref().as_ptr() as usize, s.stable_ptr() as usize);
        assert!(ptr <= start + s.get_ref().capacity());
    }

    #[test]
    #[should_panic(expected = "out of the buffer's capacity")]
    fn slice_past_capacity_panics() {
        let _ = Vec::<u8>::with_capacity(4).slice(..100);
    }
}
