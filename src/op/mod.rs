//! One opcode per file: the data an operation owns while the kernel works on it, and its
//! `unsafe impl OpCode` saying why the pointers in its entry stay valid.
//!
//! # What an op's data holds, and why in that form
//!
//! Everything an entry points at must stay valid and unmoved until the final completion, even
//! if the future is dropped and its data moves into the driver's slot (`driver/lifecycle.rs`).
//! So every op keeps the pointed-at memory behind an indirection that a move does not touch:
//!
//! * **buffers** behind `IoBuf`/`IoBufMut` (`buf/`), whose contract is a stable heap pointer;
//! * **small kernel-visible values** (a `sockaddr_storage` and its length, a `msghdr`, an
//!   `iovec`, a `statx`) in [`heap::Heap`], a raw heap allocation: a `Box` would be re-asserted
//!   unique on every move, invalidating the pointer the kernel holds under Rust's aliasing
//!   rules;
//! * **paths** in [`path::OwnedPath`] (a `CString` in a `Heap`);
//! * **fds** as a `SharedFd` clone, so the number in the entry cannot be closed and reused for
//!   another file while the kernel works on it (hazard H10 in `docs/HAZARDS.md`).
//!
//! Lengths given to the kernel are `u32`; a larger buffer is offered its first `u32::MAX`
//! bytes and the result says how much moved, as a short read or write would.
//!
//! # What a dropped op does with a late result
//!
//! A cancel is a race the op may win, so each op decides in `OpCode::dispose` what becomes of a
//! result nobody will take: an fd is closed (open) or kept for the next accept (`keep.rs`), a
//! datagram is kept for the next receive (`keep.rs`), stream bytes are recorded as lost so the
//! stream's next op fails instead of leaving a silent gap (`loss.rs`), a provided buffer goes
//! back to its ring (`recv_multi.rs`).
//!
//! # The readiness backend
//!
//! Each op also says how to run on epoll (`OpCode::perform`): sockets call the non-blocking
//! syscall below and wait for readiness on `EAGAIN`; files, which epoll cannot wait for, run on
//! the blocking pool ([`file_now`]); io_uring-only features degrade to their plain form (a
//! zero-copy send copies, a buffer-ring receive reads into a buffer taken from the ring in user
//! space). Every op here has a `perform`: the trait's default, an `Unsupported` error, is only
//! for an opcode added without one.

/// `impl Oneshot` for ops whose only outcome is success or an errno: the count a successful
/// completion carries (zero for all of these) means nothing to the caller, and no buffer comes
/// back, so the output is `io::Result<()>`. Declared before the `mod`s so they can use it.
macro_rules! unit_output {
    ($op:ty) => {
        impl $crate::driver::opcode::Oneshot for $op {
            type Output = std::io::Result<()>;

            fn complete(self, cqe: $crate::driver::opcode::CqeResult) -> Self::Output {
                cqe.result.map(drop)
            }
        }
    };
}
use unit_output;

pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod close;
pub(crate) mod cmsg;
pub(crate) mod connect;
pub(crate) mod fixed;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
mod guard;
pub(crate) mod heap;
pub(crate) mod keep;
pub(crate) mod loss;
pub(crate) mod mkdir_at;
pub(crate) mod nop;
pub(crate) mod open_at;
mod path;
pub(crate) mod read_at;
pub(crate) mod recv;
pub(crate) mod recv_ctl;
pub(crate) mod recv_msg;
pub(crate) mod recv_multi;
pub(crate) mod rename_at;
pub(crate) mod send;
pub(crate) mod send_msg;
pub(crate) mod send_zc;
pub(crate) mod shutdown;
pub(crate) mod signalfd;
pub(crate) mod statx;
pub(crate) mod unlink_at;
pub(crate) mod write_at;

/// The future of every single-shot op here. Modules above `op/` name it through this
/// re-export and build ops only with this folder's constructors: they never reach into the
/// driver.
pub(crate) use crate::driver::op_future::Op;

use crate::driver::opcode::{Interest, Performed};
use crate::fd::SharedFd;

/// The most iovecs one `sendmsg`/`recvmsg` takes (Linux's `UIO_MAXIOV`); more is `EMSGSIZE`.
/// Vectored ops pass the first `IOV_MAX` buffers and report what moved, as std and tokio do.
pub(crate) const IOV_MAX: usize = 1024;

/// An all-zero `msghdr`: no name, no iovecs, no control data. Ops fill in the fields they use
/// with pointers into their own `Heap`s before the header itself goes into one.
fn zeroed_msghdr() -> libc::msghdr {
    // SAFETY: `msghdr` is plain data (integers and raw pointers, plus padding on some targets);
    // all zeroes is a valid value: null pointers and zero lengths.
    unsafe { std::mem::zeroed() }
}

/// A copy of the `n` bytes the kernel reported writing at `ptr`, the start of a receive's
/// buffer (for a datagram kept after its receive was dropped).
///
/// The caller passes the buffer's `stable_mut_ptr` and the completion's byte count, which the
/// kernel keeps within the `bytes_total` the entry named.
fn written(ptr: *mut u8, n: usize) -> Vec<u8> {
    if n == 0 {
        // An empty buffer's pointer may be dangling or null; read nothing.
        return Vec::new();
    }
    // SAFETY: `ptr` is the start of an owned buffer valid for `bytes_total` bytes (its `IoBufMut`
    // contract), the kernel wrote its first `n` bytes, and `n <= bytes_total`; the buffer is not
    // written concurrently, as the op's final completion has been reaped or this is it.
    unsafe { std::slice::from_raw_parts(ptr, n) }.to_vec()
}

// Readiness backend helpers: the syscalls ops perform at once on their own data (see
// `driver/opcode.rs`, `OpCode::perform`). MSG_DONTWAIT keeps them non-blocking even on an fd that
// was not made non-blocking (one made outside the runtime).

/// `recv` into `len` bytes at `ptr`.
fn recv_now(fd: &SharedFd, ptr: *mut u8, len: usize, flags: i32) -> Performed {
    let fd = fd.raw();
    // SAFETY: callers pass their owned buffer's pointer and capacity (its `IoBufMut` contract
    // keeps them valid and writable); the fd is kept open by their `SharedFd`.
    Performed::retry(fd, Interest::Read, 0, || unsafe {
        libc::recv(fd, ptr.cast(), len, flags | libc::MSG_DONTWAIT)
    })
}

/// `send` of `len` bytes at `ptr`.
fn send_now(fd: &SharedFd, ptr: *const u8, len: usize) -> Performed {
    let fd = fd.raw();
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    // SAFETY: callers pass their owned buffer's pointer and initialized length (its `IoBuf`
    // contract keeps them valid); the fd is kept open by their `SharedFd`.
    Performed::retry(fd, Interest::Write, 0, || unsafe {
        libc::send(fd, ptr.cast(), len, flags)
    })
}

/// `recvmsg` with the header at `msg`.
fn recvmsg_now(fd: &SharedFd, msg: *mut libc::msghdr, flags: i32) -> Performed {
    let fd = fd.raw();
    // SAFETY: callers pass their owned, filled-in header, whose pointers all point into memory
    // the op owns; the fd is kept open by their `SharedFd`.
    Performed::retry(fd, Interest::Read, 0, || unsafe {
        libc::recvmsg(fd, msg, flags | libc::MSG_DONTWAIT)
    })
}

/// `accept4` (non-blocking, close-on-exec) writing the peer to `addr`/`len` if not null; a
/// success carries `flags`.
fn accept_now(
    fd: &SharedFd,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    flags: u32,
) -> Performed {
    let fd = fd.raw();
    let sock_flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: `addr` and `len` are null or point into the op's owned address storage; the
    // listening fd is kept open by their `SharedFd`.
    Performed::retry(fd, Interest::Read, flags, || unsafe {
        libc::accept4(fd, addr, len, sock_flags) as isize
    })
}

/// A file syscall, for the blocking pool (a disk may be slow; epoll cannot wait for a file).
///
/// # Safety
///
/// Every pointer `call` uses points into the calling op's own data (see
/// `driver/epoll/offload.rs`: the data outlives the call).
unsafe fn file_now(mut call: impl FnMut() -> isize + 'static) -> Performed {
    let retried = move || loop {
        let rc = crate::driver::epoll::errno_rc(call());
        if rc != -(libc::EINTR as isize) {
            return rc;
        }
    };
    // SAFETY: the caller's promise, passed on.
    Performed::Blocking(unsafe { crate::driver::epoll::Syscall::new(retried) })
}
