//! One opcode per file: the data an operation owns while the kernel works on it, and its
//! `unsafe impl OpCode` saying why the pointers in its entry stay valid.
//!
//! The futures that run these ops (`Op`, `MultiOp`), the slot that keeps a dropped op's data
//! and the contract itself (`OpCode`, `Oneshot`, `Multishot`) are the driver's
//! (`driver/op_future.rs`, `driver/multishot.rs`, `driver/opcode.rs`); this folder knows what
//! each opcode reads, writes and returns. Modules above it (`net/`, `fs/`, `signal.rs`) build
//! ops only through the constructors here.
//!
//! # Where each op is
//!
//! | file | opcodes | what the kernel points at |
//! |------|---------|---------------------------|
//! | `accept.rs`, `accept_multi.rs` | `ACCEPT`, multishot `ACCEPT` | the peer's address (single-shot only) |
//! | `connect.rs` | `CONNECT` | the peer's address |
//! | `recv.rs`, `send.rs` | `RECV`, `SEND`, `SEND_ZC` | one buffer |
//! | `recv_msg.rs`, `send_msg.rs` | `RECVMSG`, `SENDMSG` | a `msghdr`, iovecs, buffers, an address, `SCM_RIGHTS` (send) |
//! | `recv_ctl.rs` (+ `cmsg.rs`) | `RECVMSG` on Unix sockets | as above, with room for `SCM_RIGHTS` |
//! | `recv_multi.rs` | multishot `RECV` with a buffer ring | nothing: buffers of a registered ring |
//! | `fixed.rs` | `READ_FIXED` on a socket | a registered buffer |
//! | `read_at.rs`, `write_at.rs` | `READ`/`READ_FIXED`, `WRITE`/`WRITE_FIXED` at an offset | one buffer |
//! | `open_at.rs`, `statx.rs` | `OPENAT`, `STATX` | a path (and a `statx` to write) |
//! | `path.rs` | `MKDIRAT`, `UNLINKAT`, `RENAMEAT` | one or two paths |
//! | `fd_only.rs` | `FSYNC`, `FTRUNCATE`, `SHUTDOWN` | nothing: an fd and a number |
//! | `close.rs` | `CLOSE` | nothing: the fd it owns |
//! | `signalfd.rs` | `READ` of the signalfd | a record buffer |
//! | `nop.rs` | `NOP` | nothing |
//!
//! Beside them, the helpers: `heap.rs` (memory the kernel points at), `path.rs`'s
//! `OwnedPath`, `cmsg.rs` (control messages), and what a stream or socket does with results of
//! dropped ops: `loss.rs` and `guard.rs` (byte streams), `keep.rs` (datagrams, connections).
//!
//! # The shape of an op file
//!
//! A struct owning everything the entry points at, each field saying what the kernel does
//! with it and until when; a constructor; an `unsafe impl OpCode` whose `// SAFETY:` names
//! every pointer in the entry and what keeps it valid; `perform` for epoll; `dispose` if a
//! result is a resource (an fd, a provided buffer, a datagram); then `Oneshot::complete`,
//! which turns the final completion into the output and hands the buffers back, on success
//! and on error alike (a `BufResult` always carries the buffer).
//!
//! Constructors of ops on files and listeners return the `Op` future itself. Those of byte
//! stream ops (`recv`, `send`, `send_msg`, ...) return the bare data, because the caller
//! decides how the op runs: wrapped in `Tracked` by the stream's `LossFlag::guard` on a TCP
//! or Unix stream, plain on a datagram socket. `complete` never runs for an op whose future
//! was dropped: its result, if any, goes to `dispose`.
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
//! back to its ring (`recv_multi.rs`), signals go back to the registry (`signalfd.rs`).
//! `dispose` runs under the driver's borrow, so it must not run user code (wake a task, drop
//! a buffer whose `Drop` wakes one): what needs that waits in the op data, which the driver
//! drops after the borrow ends.
//!
//! # The tests that hold these rules
//!
//! Each rule above has an integration test acting as a user would (in `tests/`):
//! `dropped_read_keeps_its_buffer_until_completion.rs` and
//! `runtime_dropped_with_ops_in_flight_frees_nothing_early.rs` (memory the kernel points at),
//! `cancelled_accept_leaks_no_fd.rs` and `a_cancelled_open_leaks_no_fd.rs` (fds a dropped op
//! got), `accept_dropped_by_select_keeps_the_connection_for_the_next_accept.rs` and
//! `udp_receive_dropped_by_select_keeps_its_datagram_for_the_next_receive.rs` (`keep.rs`),
//! `a_stream_op_dropped_before_submission_leaves_no_silent_gap.rs` (`loss.rs`),
//! `a_dropped_unix_receive_closes_the_descriptors_it_got.rs` (`recv_ctl.rs`),
//! `abandoned_zero_copy_buffers_return_exactly_once.rs` and
//! `shutdown_with_an_abandoned_send_zc_to_a_stalled_peer_is_prompt.rs` (`SEND_ZC`), and
//! `cancellation_storm_corrupts_nothing_and_leaks_nothing.rs` for all of them at once. A
//! change to an op's `dispose` or to what it owns should keep them passing on both backends.
//!
//! # Kernels
//!
//! The runtime needs Linux 5.11 (`driver/uring/setup.rs`); every opcode here but these exists
//! there:
//!
//! * `MKDIRAT` (5.15): `fs::create_dir` runs `mkdir(2)` on the blocking pool where the probe
//!   (`driver/uring/probe.rs`) lacks it or the kernel answers `EINVAL`;
//! * multishot `ACCEPT` (5.19): `EINVAL` before, and `Incoming` accepts one at a time;
//! * `IORING_RECVSEND_POLL_FIRST` (5.19): asked for only once a ring of the process was set
//!   up with a flag as recent (`poll_first_supported`, `driver/uring/setup.rs`);
//! * buffer rings (5.19) and multishot `RECV` (6.0): the read pool falls back to plain reads
//!   (`buf/pool.rs`);
//! * `SEND_ZC` (6.0): a plain `SEND` where the probe (`driver/uring/probe.rs`) lacks it;
//! * `FTRUNCATE` (6.9): `EINVAL` before, and `File::set_len` runs `ftruncate(2)` on the
//!   blocking pool.
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
pub(crate) mod fd_only;
pub(crate) mod fixed;
mod guard;
pub(crate) mod heap;
pub(crate) mod keep;
pub(crate) mod loss;
pub(crate) mod nop;
pub(crate) mod open_at;
pub(crate) mod path;
pub(crate) mod read_at;
pub(crate) mod recv;
pub(crate) mod recv_ctl;
pub(crate) mod recv_msg;
pub(crate) mod recv_multi;
pub(crate) mod send;
pub(crate) mod send_msg;
pub(crate) mod signalfd;
pub(crate) mod statx;
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
/// buffer: for a datagram that arrived after its receive was dropped, kept for the next one
/// (`keep.rs`) while the buffer itself goes with the op data.
///
/// # Safety
///
/// `ptr` is the `stable_mut_ptr` of a buffer the op owns, `n` is at most its `bytes_total`
/// (a completion's byte count never exceeds the length the entry named), and the kernel is
/// done writing it: this is the op's final completion, or it has been reaped.
unsafe fn written(ptr: *mut u8, n: usize) -> Vec<u8> {
    if n == 0 {
        // An empty buffer's pointer may be dangling or null; read nothing.
        return Vec::new();
    }
    // SAFETY: the caller's promise: `ptr` is valid for `n` initialized bytes (the kernel wrote
    // them) that nothing writes meanwhile.
    unsafe { std::slice::from_raw_parts(ptr, n) }.to_vec()
}

// Readiness backend helpers: the syscalls ops perform at once on their own data (see
// `driver/opcode.rs`, `OpCode::perform`). MSG_DONTWAIT keeps them non-blocking even on an fd that
// was not made non-blocking (one made outside the runtime). Each runs within the `perform` call,
// so the op's data only has to outlive that call; `EINTR` is retried, `EAGAIN` waits for
// readiness in `Interest`'s direction (`Performed::retry`).

/// `recv` into `len` bytes at `ptr`.
///
/// # Safety
///
/// `ptr` is valid for `len` writable bytes (an owned buffer's `stable_mut_ptr` and
/// `bytes_total`, kept valid by its `IoBufMut` contract) for the duration of the call.
unsafe fn recv_now(fd: &SharedFd, ptr: *mut u8, len: usize, flags: i32) -> Performed {
    let fd = fd.raw();
    // SAFETY: the caller's promise for `ptr` and `len`; the fd is kept open by their `SharedFd`.
    Performed::retry(fd, Interest::Read, 0, || unsafe {
        libc::recv(fd, ptr.cast(), len, flags | libc::MSG_DONTWAIT)
    })
}

/// `send` of `len` bytes at `ptr`, with `MSG_NOSIGNAL` (a closed peer is `EPIPE`, as on the
/// ring).
///
/// # Safety
///
/// `ptr` is valid for `len` initialized bytes (an owned buffer's `stable_ptr` and
/// `bytes_init`, kept valid by its `IoBuf` contract) for the duration of the call.
unsafe fn send_now(fd: &SharedFd, ptr: *const u8, len: usize) -> Performed {
    let fd = fd.raw();
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    // SAFETY: the caller's promise for `ptr` and `len`; the fd is kept open by their `SharedFd`.
    Performed::retry(fd, Interest::Write, 0, || unsafe {
        libc::send(fd, ptr.cast(), len, flags)
    })
}

/// `recvmsg` with the header at `msg`.
///
/// # Safety
///
/// `msg` points to a filled-in header whose every pointer (name, iovecs and the buffers they
/// name, control) is valid for the length beside it, all of it owned by the calling op, for
/// the duration of the call.
unsafe fn recvmsg_now(fd: &SharedFd, msg: *mut libc::msghdr, flags: i32) -> Performed {
    let fd = fd.raw();
    // SAFETY: the caller's promise for `msg`; the fd is kept open by their `SharedFd`.
    Performed::retry(fd, Interest::Read, 0, || unsafe {
        libc::recvmsg(fd, msg, flags | libc::MSG_DONTWAIT)
    })
}

/// `accept4` (non-blocking, close-on-exec: what the ring's accept gives, plus what epoll
/// needs) writing the peer to `addr`/`len` if not null; a success carries `flags` (`F_MORE`
/// for an item of an emulated multishot accept).
///
/// # Safety
///
/// `addr` and `len` are both null, or `len` points to the size of the storage at `addr`, both
/// valid for writes for the duration of the call.
unsafe fn accept_now(
    fd: &SharedFd,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
    flags: u32,
) -> Performed {
    let fd = fd.raw();
    let sock_flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: the caller's promise for `addr` and `len`; the listening fd is kept open by their
    // `SharedFd`.
    Performed::retry(fd, Interest::Read, flags, || unsafe {
        libc::accept4(fd, addr, len, sock_flags) as isize
    })
}

/// A file syscall, for the blocking pool (a disk may be slow; epoll cannot wait for a file).
/// `call` runs on a pool thread, perhaps more than once (it is retried on `EINTR`), and its
/// result (a count, an fd, or -1 with errno) becomes the op's completion.
///
/// # Safety
///
/// Every pointer `call` uses points into the calling op's own data, which the op does not
/// touch until the call returns: the future keeps that data (or, dropped, hands it to the
/// driver) until the pool thread is done, so it outlives the call (`driver/epoll/offload.rs`).
/// `call` goes to another thread although it need not be `Send`, so it captures only raw
/// pointers and plain values, never an `Rc` or a reference.
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
