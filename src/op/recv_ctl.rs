//! `RECVMSG` for Unix sockets: one owned buffer, the sender's raw address (a path, an abstract
//! name or unnamed, which [`recv_msg`](super::recv_msg) cannot express as an IP `SocketAddr`)
//! and room for `SCM_RIGHTS` descriptors.
//!
//! The header, the iovec, the `sockaddr_storage` and the control buffer all live on the heap,
//! owned by the op until its final completion. Descriptors are received with
//! `MSG_CMSG_CLOEXEC`; those that arrive for a dropped receive are closed in `dispose`, so a
//! cancelled receive never leaks them.
//!
//! # Descriptors that do not fit
//!
//! The control buffer has room for `max_fds` (at most [`MAX_FDS`](super::cmsg::MAX_FDS)),
//! rounded up to whole `u64`s. Descriptors beyond the room are dropped by the kernel (which
//! sets `MSG_CTRUNC`); one that fit only thanks to the rounding is closed by
//! `take_fds`, so the caller never gets more than it asked for. With `max_fds` 0 there is no
//! control buffer at all, and every descriptor sent along is dropped by the kernel.
//!
//! # Dropped in flight
//!
//! On a stream the caller runs the op `Tracked` (`loss.rs`), which records bytes a dropped
//! receive took. On a datagram socket the datagram is lost (`UnixDatagram`'s docs say so:
//! unlike UDP's receives, these keep nothing). Either way descriptors that came with it are
//! closed, and the buffer, header and control buffer stay with the op data in the driver's
//! slot until the final completion.
//!
//! # The readiness backend
//!
//! `recvmsg(2)` with `MSG_DONTWAIT | MSG_CMSG_CLOEXEC` on the same header, waiting for
//! readability on `EAGAIN`.

use super::heap::Heap;
use crate::buf::{BufResult, IoBufMut};
use crate::driver::opcode::{CqeResult, OpCode};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use socket2::{SockAddr, SockAddrStorage};
use std::os::fd::OwnedFd;

/// What one receive got besides the bytes.
#[derive(Debug)]
pub(crate) struct Received {
    /// Bytes received into the buffer.
    pub(crate) len: usize,
    /// The sender (unnamed for a connected stream peer or an unbound socket).
    pub(crate) from: SockAddr,
    /// Descriptors passed along with the bytes, now owned by us: at
    /// most the `max_fds` asked for (any beyond were closed).
    pub(crate) fds: Vec<OwnedFd>,
}

/// A Unix-socket receive's data.
pub(crate) struct RecvCtl<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// The kernel's until the final completion; handed back with the bytes marked initialized.
    buf: B,
    /// The one iovec `msg` points at, over `buf`.
    iovec: Heap<libc::iovec>,
    /// Where the kernel writes the sender's address.
    name: Heap<SockAddrStorage>,
    /// The header the entry points at; the kernel writes its `msg_namelen`, `msg_controllen`
    /// and `msg_flags` (`MSG_CTRUNC` when descriptors did not fit).
    msg: Heap<libc::msghdr>,
    /// Room for the descriptors; its heap array is what `msg.msg_control` points at.
    control: Vec<u64>,
    /// The most descriptors to hand back: the control buffer, rounded up to whole `u64`s, may
    /// let the kernel fit one more, which `take_fds` closes.
    max_fds: usize,
}

/// Receives into `buf` from `fd`, with the sender and up to `max_fds` descriptors. On a
/// stream, the caller runs it tracked (see `loss.rs`), which records bytes a dropped receive
/// took anyway.
pub(crate) fn recv_ctl<B: IoBufMut>(fd: &SharedFd, buf: B, max_fds: usize) -> RecvCtl<B> {
    RecvCtl {
        fd: fd.clone(),
        buf,
        iovec: Heap::new(libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }),
        name: Heap::new(SockAddrStorage::zeroed()),
        msg: Heap::new(super::zeroed_msghdr()),
        control: super::cmsg::buffer_for(max_fds.min(super::cmsg::MAX_FDS)),
        max_fds,
    }
}

impl<B> RecvCtl<B> {
    /// The descriptors of a successful completion, taken once.
    fn take_fds(&mut self) -> Vec<OwnedFd> {
        let msg = self.msg.get();
        // SAFETY: `msg_control` points at `self.control` (live, u64-aligned, the kernel keeps
        // `msg_controllen` within its size), filled by the completed recvmsg; each completion is
        // taken once (`complete` consumes the op, `dispose` sees each final completion once).
        let mut fds = unsafe { super::cmsg::take_rights(msg) };
        // Dropping the extras closes them, as the kernel would have.
        fds.truncate(self.max_fds);
        fds
    }
}

// SAFETY: the entry points at `self.msg`, a heap allocation owned by the op. The header points at
// `self.iovec` and `self.name` (heap, owned), at the heap array of `self.control` (never resized
// after construction) and, through the iovec, at `bytes_total` writable bytes of `self.buf`,
// which its `IoBufMut` contract keeps valid and in place while the op owns it. All of it lives
// until `complete` or until the driver drops the abandoned op after its final completion. The
// socket is kept open by the `SharedFd` clone in `self.fd` for as long.
unsafe impl<B: IoBufMut> OpCode for RecvCtl<B> {
    /// Fills in the header and the iovec the entry points at (nothing they point at moves
    /// after this), then builds the entry.
    fn sqe(&mut self) -> squeue::Entry {
        *self.iovec.get_mut() = libc::iovec {
            iov_base: self.buf.stable_mut_ptr().cast(),
            iov_len: self.buf.bytes_total(),
        };
        let namelen = self.name.get().size_of();
        let (name, iovec) = (self.name.as_ptr(), self.iovec.as_ptr());
        let control_len = std::mem::size_of_val(self.control.as_slice());
        let control = self.control.as_mut_ptr();
        let msg = self.msg.get_mut();
        msg.msg_name = name.cast();
        msg.msg_namelen = namelen;
        msg.msg_iov = iovec;
        msg.msg_iovlen = 1;
        if control_len > 0 {
            msg.msg_control = control.cast();
        }
        msg.msg_controllen = control_len as _;
        opcode::RecvMsg::new(self.fd.types_fd(), self.msg.as_ptr())
            .flags(libc::MSG_CMSG_CLOEXEC as u32)
            .build()
    }

    fn perform(&mut self) -> Performed {
        // The entry is not submitted: building it fills in the message header recvmsg reads
        // (again for every attempt: the kernel rewrites `msg_namelen` and `msg_controllen`).
        let _ = self.sqe();
        // SAFETY: the header was just filled in with pointers into this op's own iovec,
        // buffer, address storage and control buffer, each with its length.
        unsafe { super::recvmsg_now(&self.fd, self.msg.as_ptr(), libc::MSG_CMSG_CLOEXEC) }
    }

    /// The bytes of an abandoned receive are the caller's business (see the module docs); the
    /// descriptors are this op's, as only it can find them in the control buffer.
    fn dispose(&mut self, cqe: &CqeResult) {
        if cqe.result.is_ok() {
            // Nobody will take them: close them rather than leak them.
            drop(self.take_fds());
        }
    }
}

impl<B: IoBufMut> Oneshot for RecvCtl<B> {
    type Output = BufResult<Received, B>;

    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let n = match cqe.result {
            Ok(n) => n as usize,
            Err(err) => return (Err(err), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes, at most `bytes_total`, from the buffer's start.
        unsafe { self.buf.set_init(n) };
        let fds = self.take_fds();
        let namelen = self.msg.get().msg_namelen;
        let storage = std::mem::replace(self.name.get_mut(), SockAddrStorage::zeroed());
        let len = namelen.min(storage.size_of());
        // SAFETY: the kernel wrote the sender's address (an `AF_UNIX` one, or none: length 0
        // or just the family, which is an unnamed address) and its length into `msg_namelen`.
        let from = unsafe { SockAddr::new(storage, len) };
        (Ok(Received { len: n, from, fds }), self.buf)
    }
}
