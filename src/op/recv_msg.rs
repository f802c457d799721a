//! `RECVMSG`: scattered receive into several owned buffers, with the sender's address.
//!
//! Serves `readv` on streams and `recv_from` on UDP sockets. The message header, the iovec array
//! and the `sockaddr_storage` the kernel writes the sender into all live on the heap, owned by the
//! op. Each buffer is filled from its start up to its capacity, in order; only the first
//! [`IOV_MAX`](super::IOV_MAX) buffers take part.
//!
//! The result is the byte count over all buffers; `complete` splits it back (each buffer
//! full up to its room, in order, the rest untouched) and reads the sender from what the kernel
//! wrote to `msg_namelen`. A datagram larger than all the buffers together is cut (the
//! kernel's `MSG_TRUNC` in `msg_flags` is not reported). The sender is `None` on a TCP stream
//! (TCP's receive writes no name) and for a non-IP family.
//!
//! # Dropped in flight
//!
//! As for `recv.rs`: bytes of a stream are recorded lost (`Tracked`, `loss.rs`); a datagram is
//! copied out of the buffers with its sender and kept for the socket's next receive
//! (`keep.rs`). The buffers, iovecs, header and address storage stay with the op data in the
//! driver's slot until the final completion.
//!
//! # The readiness backend
//!
//! `recvmsg(2)` with `MSG_DONTWAIT` on the same header, which `sqe` fills in (the entry it also
//! builds is thrown away), waiting for readability on `EAGAIN`.

use super::heap::Heap;
use super::keep::{Datagram, Leftover};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::opcode::{CqeResult, OpCode, Owner};
use crate::driver::opcode::{Oneshot, Performed};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use socket2::{SockAddr, SockAddrStorage};
use std::net::SocketAddr;

/// A scattered receive's data.
pub(crate) struct RecvMsg<B> {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// The kernel's until the final completion; `complete` marks each initialized as far as
    /// the bytes reached, in order, and hands them all back.
    bufs: Vec<B>,
    /// One entry per buffer; the Vec's heap array is what `msg.msg_iov` points at.
    iovecs: Vec<libc::iovec>,
    /// Where the kernel writes the sender's address (`recv_from`).
    name: Heap<SockAddrStorage>,
    /// The header the entry points at; its pointers go into `iovecs` and `name`, and its
    /// `msg_namelen` is written by the kernel.
    msg: Heap<libc::msghdr>,
    /// What becomes of a datagram (or stream bytes) taken after the future was dropped.
    leftover: Leftover,
}

/// Receives into `bufs`, in order, from `fd`, with the sender's address; `leftover` says what
/// a dropped receive does with what it took anyway.
pub(crate) fn recv_msg<B: IoBufMut>(fd: &SharedFd, bufs: Vec<B>, leftover: Leftover) -> RecvMsg<B> {
    RecvMsg {
        fd: fd.clone(),
        iovecs: Vec::with_capacity(bufs.len()),
        bufs,
        name: Heap::new(SockAddrStorage::zeroed()),
        msg: Heap::new(super::zeroed_msghdr()),
        leftover,
    }
}

/// The sender address the kernel wrote into `name` (its length in `msg`), if it is IPv4 or IPv6.
/// Takes it (the storage is swapped for an empty one), so it is read once per completion.
fn sender(name: &mut Heap<SockAddrStorage>, msg: &Heap<libc::msghdr>) -> Option<SocketAddr> {
    let namelen = msg.get().msg_namelen;
    let storage = std::mem::replace(name.get_mut(), SockAddrStorage::zeroed());
    let addr = (namelen > 0).then(|| {
        let len = namelen.min(storage.size_of());
        // SAFETY: the kernel wrote the sender's address (of the socket's family) into `storage`
        // and its length into `msg_namelen`; a zero family yields `None` below.
        unsafe { SockAddr::new(storage, len) }
    });
    addr.and_then(|a| a.as_socket())
}

// SAFETY: the entry points at `self.msg`, a heap allocation owned by the op. The header points at
// `self.name` (heap, owned, `size_of` bytes), at the heap array of `self.iovecs` (not resized
// after this call) and, through the iovecs, at `bytes_total` writable bytes of each buffer in
// `self.bufs`, which their `IoBufMut` contract keeps valid and in place while the op owns them.
// All of it lives until `complete` or until the driver drops the abandoned op after its final
// completion. The socket is kept open by the `SharedFd` clone in `self.fd` for as long.
unsafe impl<B: IoBufMut> OpCode for RecvMsg<B> {
    /// Fills in the header and the iovecs the entry points at. `iovecs` was made with room for
    /// every buffer, so this never reallocates the array; nothing here moves once submitted.
    fn sqe(&mut self) -> squeue::Entry {
        self.iovecs.clear();
        self.iovecs.extend(
            self.bufs
                .iter_mut()
                .take(super::IOV_MAX)
                .map(|b| libc::iovec {
                    iov_base: b.stable_mut_ptr().cast(),
                    iov_len: b.bytes_total(),
                }),
        );
        let namelen = self.name.get().size_of();
        let name = self.name.as_ptr();
        let msg = self.msg.get_mut();
        msg.msg_name = name.cast();
        msg.msg_namelen = namelen;
        msg.msg_iov = self.iovecs.as_mut_ptr();
        msg.msg_iovlen = self.iovecs.len() as _;
        opcode::RecvMsg::new(self.fd.types_fd(), self.msg.as_ptr()).build()
    }

    fn perform(&mut self) -> Performed {
        // The entry is not submitted: building it fills in the message header recvmsg reads.
        // Rebuilt for every attempt: a failed one may have left the kernel's `msg_namelen`.
        let _ = self.sqe();
        // SAFETY: the header was just filled in with pointers into this op's own iovecs,
        // buffers and address storage, each with its length.
        unsafe { super::recvmsg_now(&self.fd, self.msg.as_ptr(), 0) }
    }

    /// A result of the abandoned receive: see the module docs. The bytes are gathered from
    /// the buffers in order, each up to its room, as `complete` would split them.
    fn dispose(&mut self, cqe: &CqeResult) {
        let this = &mut *self;
        let (bufs, name, msg) = (&mut this.bufs, &mut this.name, &this.msg);
        this.leftover.dispose(cqe, |n| {
            let mut bytes = Vec::with_capacity(n);
            let mut left = n;
            for buf in bufs.iter_mut() {
                let filled = left.min(buf.bytes_total());
                // SAFETY: the kernel wrote `filled` bytes from this buffer's start (its share
                // of the final completion's count, at most its room).
                let written = unsafe { super::written(buf.stable_mut_ptr(), filled) };
                bytes.extend_from_slice(&written);
                left -= filled;
            }
            Datagram {
                bytes,
                from: sender(name, msg),
            }
        });
    }

    fn abandoned(&mut self, owner: &Owner) {
        self.leftover.abandoned(owner);
    }
}

impl<B: IoBufMut> Oneshot for RecvMsg<B> {
    type Output = BufResult<(usize, Option<SocketAddr>), Vec<B>>;

    /// Splits the byte count back over the buffers (see the module docs) and takes the
    /// sender; on an error the buffers come back as they went.
    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let n = match cqe.result {
            Ok(n) => n as usize,
            Err(err) => return (Err(err), self.bufs),
        };
        let mut left = n;
        for buf in &mut self.bufs {
            let filled = left.min(buf.bytes_total());
            // SAFETY: the kernel fills the iovecs in order, each up to its length
            // (`bytes_total`), and reported `n` bytes in all; `filled` is this buffer's share
            // (zero for the buffers past IOV_MAX, since `n` fits in the ones before).
            unsafe { buf.set_init(filled) };
            left -= filled;
        }
        let from = sender(&mut self.name, &self.msg);
        (Ok((n, from)), self.bufs)
    }
}
