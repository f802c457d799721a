//! The quarantine oracle itself (tests/common/quarantine.rs) must see a kernel write into a
//! buffer after its release, or the storm's "late writes 0" would prove nothing.

mod common;

use common::quarantine::{check_quarantine, QuarantineBuf};
use coring::buf::IoBufMut;

#[test]
fn a_kernel_write_after_release_is_counted() {
    let before = check_quarantine();

    // A buffer released cleanly: nothing counted.
    drop(QuarantineBuf::new(64));
    assert_eq!(check_quarantine(), before);

    // A buffer the kernel writes into after its release, as a runtime that freed an abandoned
    // read's buffer too early would let happen.
    let mut buf = QuarantineBuf::new(64);
    let ptr = buf.stable_mut_ptr();
    drop(buf); // poisoned, still mapped (quarantined)
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe; the fds are ours and closed below.
    let piped = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(piped, 0);
    // SAFETY: writes 5 bytes from a static string into the pipe.
    let written = unsafe { libc::write(fds[1], b"late!".as_ptr().cast(), 5) };
    assert_eq!(written, 5);
    // SAFETY: the mapping is still mapped (in quarantine) and writable; this is the late write.
    let read = unsafe { libc::read(fds[0], ptr.cast(), 5) };
    assert_eq!(read, 5);
    // SAFETY: closing our own fds.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    assert_eq!(check_quarantine(), before + 1, "the late write went unseen");
}
