//! `SCM_RIGHTS` control messages: the file descriptors a Unix socket message carries.
//!
//! A control buffer is a `Vec<u64>` so its heap array is aligned for `cmsghdr` (the `CMSG_*`
//! macros assume it); the op that hands it to the kernel owns it until the final completion.
//! The `Vec`'s heap array is what `msg_control` points at, so a control buffer is never
//! resized once built: that would move the memory under the kernel.
//!
//! The layout is the kernel's: a `cmsghdr` (length, level, type) then the data, padded to
//! `CMSG_ALIGN`; `CMSG_SPACE(n)` is the room a message with `n` data bytes takes and
//! `CMSG_LEN(n)` what its header's length says. An `SCM_RIGHTS` message's data is an array of
//! `int` descriptors, read and written unaligned, as nothing promises their alignment.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one message may carry (Linux's `SCM_MAX_FD`): the kernel refuses more
/// with `EINVAL`, which `rights` turns into an error saying so before anything is sent.
pub(crate) const MAX_FDS: usize = 253;

/// A control buffer with room for `count` descriptors, zeroed (for a receive to fill in).
/// Rounded up to whole `u64`s, so it may hold one descriptor more than asked.
pub(crate) fn buffer_for(count: usize) -> Vec<u64> {
    let bytes = space(count);
    vec![0u64; bytes.div_ceil(8)]
}

/// `CMSG_SPACE` for `count` descriptors (0 for none: no control message at all).
fn space(count: usize) -> usize {
    if count == 0 {
        return 0;
    }
    let len = (count * size_of::<RawFd>()) as u32;
    // SAFETY: `CMSG_SPACE` is pure arithmetic on its argument.
    unsafe { libc::CMSG_SPACE(len) as usize }
}

/// A control buffer holding one `SCM_RIGHTS` message with `fds`; empty if `fds` is. The
/// buffer names the numbers only: the caller keeps `fds` open until the send completes.
///
/// # Errors
///
/// `InvalidInput` for more than [`MAX_FDS`], which the kernel would refuse with `EINVAL`.
pub(crate) fn rights(fds: &[OwnedFd]) -> io::Result<Vec<u64>> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "coring: a message can carry at most {MAX_FDS} file descriptors, not {}",
                fds.len()
            ),
        ));
    }
    let mut control = buffer_for(fds.len());
    if fds.is_empty() {
        return Ok(control);
    }
    let mut msg = super::zeroed_msghdr();
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space(fds.len()) as _;
    // SAFETY: `msg` describes `control`, which has `CMSG_SPACE(len)` bytes, aligned for
    // `cmsghdr` (a u64 array); so the first header and its data (`CMSG_LEN(len)` bytes) fit.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN((fds.len() * size_of::<RawFd>()) as u32) as _;
        // `CMSG_DATA` follows the header at `CMSG_ALIGN`, which need not suit an `int` array
        // on every target: written unaligned.
        let data = libc::CMSG_DATA(header).cast::<RawFd>();
        for (i, fd) in fds.iter().enumerate() {
            data.add(i).write_unaligned(fd.as_raw_fd());
        }
    }
    Ok(control)
}

/// Takes ownership of every descriptor in the `SCM_RIGHTS` messages of a received `msg`
/// (whose `msg_controllen` the kernel set to the bytes it wrote). Other control messages are
/// skipped; a message cut short (`MSG_CTRUNC`) holds the descriptors that fit, and its header's
/// length says how many.
///
/// # Safety
///
/// `msg.msg_control` points to a live control buffer of at least `msg.msg_controllen` bytes,
/// aligned for `cmsghdr`, that the kernel filled on a successful `recvmsg`; and nobody else
/// takes these descriptors (call this once per completion).
pub(crate) unsafe fn take_rights(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    if msg.msg_control.is_null() || msg.msg_controllen == 0 {
        return fds;
    }
    // SAFETY: the caller vouches for the buffer; the CMSG_* macros stay within
    // `msg_controllen`, and each header's `cmsg_len` (written by the kernel) bounds its data.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(msg);
        while !header.is_null() {
            let h = &*header;
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_RIGHTS {
                // The data's length is the header's length less the (padded) header itself;
                // for a message cut short the kernel wrote the length of what fit.
                let data = libc::CMSG_DATA(header);
                let bytes = h.cmsg_len as usize - (data as usize - header as usize);
                let data = data.cast::<RawFd>();
                for i in 0..bytes / size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            header = libc::CMSG_NXTHDR(msg, header);
        }
    }
    fds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_round_trip_through_a_control_buffer() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fds = vec![OwnedFd::from(a), OwnedFd::from(b)];
        let raws: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let mut control = rights(&fds).unwrap();
        let mut msg = crate::op::zeroed_msghdr();
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space(2) as _;
        // SAFETY: the buffer is live and was filled above; `fds` are forgotten so they are not
        // closed twice (the taken copies close them).
        let taken = unsafe { take_rights(&msg) };
        std::mem::forget(fds);
        let got: Vec<RawFd> = taken.iter().map(AsRawFd::as_raw_fd).collect();
        assert_eq!(got, raws);
    }

    #[test]
    fn too_many_fds_is_invalid_input_and_none_needs_no_buffer() {
        assert!(rights(&[]).unwrap().is_empty());
        let fds: Vec<OwnedFd> = (0..=MAX_FDS)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect();
        assert_eq!(
            rights(&fds).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
