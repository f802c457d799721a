//! `SENDMSG`: gathered send from several owned buffers, optionally to an address.
//!
//! Serves `writev` on streams (no address) and `send_to` on UDP sockets (one buffer and an
//! address). The message header, the iovec array and the address all live on the heap, owned by
//! the op; only the first [`IOV_MAX`](super::IOV_MAX) buffers are sent. Sent with
//! `MSG_NOSIGNAL`, so a closed peer is `EPIPE`, never `SIGPIPE`.
//!
//! The result is the byte count over all buffers. On a stream it may be short (the socket
//! buffer filled), and the caller sends the rest; a datagram goes whole or fails (`EMSGSIZE`
//! when too large). The buffers come back unchanged either way.
//!
//! # Descriptors passed along
//!
//! [`send_msg_with_fds`] adds one `SCM_RIGHTS` control message naming `fds` (`cmsg.rs`). The
//! kernel turns the numbers into references to the open files when it issues the send, and
//! the receiver gets new descriptors for those files; the op owns ours until the final
//! completion only so that the numbers cannot be closed and reused for other files before
//! the kernel read them. They are closed with the op data.
//!
//! # Dropped in flight
//!
//! The cancel is a race: the bytes may still go. On a stream the caller runs the op `Tracked`
//! (`loss.rs`), which records bytes a dropped send moved; a datagram went or it did not, and
//! nothing is recorded. Everything the header points at stays with the op data in the driver's
//! slot until the final completion.
//!
//! # The readiness backend
//!
//! `sendmsg(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT` on the same header, waiting for writability
//! on `EAGAIN`.

use super::heap::Heap;
use crate::buf::{BufResult, IoBuf};
use crate::driver::opcode::{CqeResult, Oneshot, OpCode};
use crate::driver::opcode::{Interest, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use socket2::SockAddr;
use std::io;
use std::os::fd::OwnedFd;

/// A gathered send's data.
pub(crate) struct SendMsg<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// Read by the kernel until the completion, then handed back unchanged.
    bufs: Vec<B>,
    /// One entry per buffer; the Vec's heap array is what `msg.msg_iov` points at.
    iovecs: Vec<libc::iovec>,
    /// The destination (`send_to`); `None` on a connected socket. In a `Heap`: `msg_name`
    /// points into the `SockAddr` value itself, which must not move while the kernel may read it.
    addr: Option<Heap<SockAddr>>,
    /// The header the entry points at; its pointers go into `iovecs`, `addr` and `control`.
    msg: Heap<libc::msghdr>,
    /// `SCM_RIGHTS` control data (empty: none); its heap array is what `msg.msg_control`
    /// points at.
    control: Vec<u64>,
    /// The descriptors `control` names, kept open until the kernel has read the message, so
    /// their numbers cannot be closed and reused for other files meanwhile.
    _fds: Vec<OwnedFd>,
}

/// Sends the initialized bytes of `bufs`, in order, on `fd` (to `addr` if given).
pub(crate) fn send_msg<B: IoBuf>(
    fd: &SharedFd,
    bufs: Vec<B>,
    addr: Option<SockAddr>,
) -> SendMsg<B> {
    SendMsg {
        fd: fd.clone(),
        iovecs: Vec::with_capacity(bufs.len()),
        bufs,
        addr: addr.map(Heap::new),
        msg: Heap::new(super::zeroed_msghdr()),
        control: Vec::new(),
        _fds: Vec::new(),
    }
}

/// As [`send_msg`] without an address, with `fds` passed along (`SCM_RIGHTS`) to the
/// receiving process; the op owns them until its completion. More than
/// [`MAX_FDS`](super::cmsg::MAX_FDS) is `InvalidInput`, with the buffers handed back.
pub(crate) fn send_msg_with_fds<B: IoBuf>(
    fd: &SharedFd,
    bufs: Vec<B>,
    fds: Vec<OwnedFd>,
) -> Result<SendMsg<B>, (io::Error, Vec<B>)> {
    let control = match super::cmsg::rights(&fds) {
        Ok(control) => control,
        Err(err) => return Err((err, bufs)),
    };
    Ok(SendMsg {
        fd: fd.clone(),
        iovecs: Vec::with_capacity(bufs.len()),
        bufs,
        addr: None,
        msg: Heap::new(super::zeroed_msghdr()),
        control,
        _fds: fds,
    })
}

// SAFETY: the entry points at `self.msg`, a heap allocation owned by the op. The header points at
// the heap array of `self.iovecs` (not resized after this call), at the address in `self.addr`
// (heap, owned), at the heap array of `self.control` (not resized after construction) and,
// through the iovecs, at the initialized bytes of each buffer in `self.bufs`,
// which their `IoBuf` contract keeps valid and in place while the op owns them. All of it lives
// until `complete` or until the driver drops the abandoned op after its final completion. The
// socket is kept open by the `SharedFd` clone in `self.fd` for as long.
unsafe impl<B: IoBuf> OpCode for SendMsg<B> {
    /// Fills in the header and the iovecs the entry points at. `iovecs` was made with room for
    /// every buffer, so this never reallocates the array; nothing here moves once submitted.
    /// Each iovec covers a buffer's initialized bytes only: the rest may be uninitialized
    /// memory, which must never go out on the wire.
    fn sqe(&mut self) -> squeue::Entry {
        self.iovecs.clear();
        self.iovecs
            .extend(self.bufs.iter().take(super::IOV_MAX).map(|b| libc::iovec {
                iov_base: b.stable_ptr().cast_mut().cast(),
                iov_len: b.bytes_init(),
            }));
        let (name, namelen) = match &self.addr {
            Some(addr) => {
                let addr = addr.get();
                (addr.as_ptr().cast_mut().cast(), addr.len())
            }
            None => (std::ptr::null_mut(), 0),
        };
        // `get_mut`: the header is ours until submitted (the kernel has not seen this entry).
        let msg = self.msg.get_mut();
        msg.msg_name = name;
        msg.msg_namelen = namelen;
        msg.msg_iov = self.iovecs.as_mut_ptr();
        msg.msg_iovlen = self.iovecs.len() as _;
        if !self.control.is_empty() {
            msg.msg_control = self.control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(self.control.as_slice()) as _;
        }
        opcode::SendMsg::new(self.fd.types_fd(), self.msg.as_ptr())
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    fn perform(&mut self) -> Performed {
        // The entry is not submitted: building it fills in the message header sendmsg reads.
        let _ = self.sqe();
        let fd = self.fd.raw();
        let msg = self.msg.as_ptr();
        let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
        // SAFETY: `msg` and everything it points at (iovecs, name, control) are owned by this
        // op and were just filled in; the fd is kept open by `self.fd`.
        Performed::retry(fd, Interest::Write, 0, || unsafe {
            libc::sendmsg(fd, msg, flags)
        })
    }
}

impl<B: IoBuf> Oneshot for SendMsg<B> {
    type Output = BufResult<usize, Vec<B>>;

    /// The byte count over all buffers, and the buffers, unchanged; the descriptors passed
    /// along (if any) are closed with the op data, the receiver having its own.
    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe.result.map(|n| n as usize), self.bufs)
    }
}
