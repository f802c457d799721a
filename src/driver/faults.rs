//! Scripted faults for tests (cargo feature `fault-injection`; not compiled otherwise).
//!
//! Some of the kernel's failure modes cannot be produced on demand: `io_uring_enter` failing with
//! `EAGAIN`, `EBUSY` or `EINTR`, a submission queue the kernel is slow to drain, an op the kernel
//! fails at submission, registration running out of locked memory. A test scripts them here, for
//! the current thread's runtime; the driver consults the script at each of those points.
//!
//! Every fault is what the kernel itself could do, so the runtime's invariants must hold under
//! it: an injected `enter` error is returned *instead of* the syscall (nothing is submitted or
//! reaped, as when the kernel refuses the call); an op failed at submission is completed with
//! the scripted result and never reaches the kernel (as an invalid entry would be), so no data
//! moves; a "full" queue only makes a push fail, so the driver flushes and retries.
//!
//! Where the driver asks (each `take_*` below is consumed at most once per point reached):
//!
//! | fault                 | consulted in                          | what the driver must show         |
//! |-----------------------|---------------------------------------|-----------------------------------|
//! | `fail_next_enters`    | `Uring::enter` (`uring/submit.rs`)    | retried, or a clear fatal error   |
//! | `fill_next_pushes`    | `Uring::push_entry`                   | flush, reap, retry; no panic (H3) |
//! | `fail_next_op`        | `Uring::push` (`uring/mod.rs`)        | the op's future gets the error    |
//! | `fail_next_registrations` | `uring/register.rs`               | the memlock message (H9)          |
//! | `fail_next_msg_rings` | `Uring::push_msg_ring`                | the eventfd wakes the target (H14)|
//! | `refuse_multishot_poll` | `Uring::arm_wake_fd`                | a single-shot wake poll, no spin  |
//! | `hide_opcode`         | `kernel_lacks` (`uring/probe.rs`)     | the op's fallback, or a clear error |
//!
//! The script is per thread, like the runtime it targets: tests running in parallel threads
//! cannot consume each other's faults. The tests are `tests/faults_*` (R3 in
//! `docs/HAZARDS.md`).
//!
//! ```
//! # #[cfg(feature = "fault-injection")] {
//! use coring::faults;
//! coring::block_on(async {
//!     faults::fail_next_enters(libc::EINTR, 3); // retried by the loop, invisible to the op
//!     coring::time::sleep(std::time::Duration::from_millis(1)).await;
//!     assert_eq!(faults::pending(), faults::Pending::default());
//! });
//! # }
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;

/// Which ops an injected submission failure applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Any op (the next one pushed).
    Any,
    /// `RECV` (`TcpStream::read`, `UdpSocket::recv`), single-shot.
    Recv,
    /// `SEND` (`TcpStream::write`, `write_all`'s writes).
    Send,
    /// `ACCEPT`, single-shot (`TcpListener::accept`).
    Accept,
    /// Multishot `ACCEPT` (`TcpListener::incoming`).
    AcceptMulti,
    /// Multishot `RECV` into a buffer ring (`TcpStream::recv_stream`).
    RecvMulti,
    /// `CONNECT`.
    Connect,
    /// `SEND_ZC` (`TcpStream::send_zc`; Linux 6.0).
    SendZc,
    /// `MKDIRAT` (`fs::create_dir`; Linux 5.15).
    MkDir,
    /// `MSG_RING` (a worker waking another worker's ring; Linux 5.18). Never pushed as an op,
    /// so only [`hide_opcode`] applies to it.
    MsgRing,
}

/// What is still scripted and has not happened yet.
///
/// A test ends by asserting this is all zero (`Pending::default()`): that proves each
/// scripted fault was reached, so the test exercised the path it names and did not pass
/// because the driver never got there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// `io_uring_enter` failures left.
    pub enters: usize,
    /// Pushes left that find the queue "full".
    pub full_pushes: usize,
    /// Ops left to fail at submission.
    pub failed_ops: usize,
    /// Registrations left to fail.
    pub registrations: usize,
    /// `MSG_RING` wake-ups left for the kernel to refuse.
    pub msg_rings: usize,
}

/// The faults scripted on this thread and not yet consumed.
#[derive(Default)]
struct Script {
    /// Errnos for the next enters, in order.
    enters: VecDeque<i32>,
    /// Pushes left that find the queue full.
    full_pushes: usize,
    /// Submission failures, in order; each taken by the first op it matches.
    failed_ops: VecDeque<(OpKind, i32)>,
    /// Errnos for the next registrations, in order.
    registrations: VecDeque<i32>,
    /// `MSG_RING` wake-ups left to be refused.
    msg_rings: usize,
    /// The kernel refuses multishot polls (a standing condition, not consumed).
    refuse_multishot_poll: bool,
    /// Opcodes the kernel "lacks" (standing, like `refuse_multishot_poll`).
    hidden: Vec<OpKind>,
}

thread_local! {
    static SCRIPT: RefCell<Script> = RefCell::new(Script::default());
}

/// Runs `f` on this thread's script; `f` never calls out, so no two borrows overlap.
fn with<R>(f: impl FnOnce(&mut Script) -> R) -> R {
    SCRIPT.with(|s| f(&mut s.borrow_mut()))
}

/// The next `count` `io_uring_enter` calls on this thread fail with `errno` without entering
/// the kernel. `EAGAIN`, `EBUSY`, `EINTR` (and `ETIME`) are retried by the loop; any other
/// errno is fatal to the ring: `block_on` panics saying so.
pub fn fail_next_enters(errno: i32, count: usize) {
    with(|s| s.enters.extend(std::iter::repeat_n(errno, count)));
}

/// The next `count` pushes on this thread find the submission queue full, as when the kernel
/// has not consumed the entries yet: the driver must submit what is queued and retry.
pub fn fill_next_pushes(count: usize) {
    with(|s| s.full_pushes += count);
}

/// The next op of `kind` pushed on this thread is failed by the "kernel" at submission with
/// `-errno`: it completes with that error without running (no bytes move, no fd is made).
/// Scripted failures apply in order, each to the first op that matches it.
pub fn fail_next_op(kind: OpKind, errno: i32) {
    with(|s| s.failed_ops.push_back((kind, errno)));
}

/// The next `count` buffer registrations (`FixedBufPool::new`, `BufRing::new`) on this thread
/// fail with `errno`, as they do with `ENOMEM` when the locked-memory limit is reached.
pub fn fail_next_registrations(errno: i32, count: usize) {
    with(|s| s.registrations.extend(std::iter::repeat_n(errno, count)));
}

/// The next `count` `MSG_RING` wake-ups this thread's ring sends to another worker's ring are
/// refused by the kernel: each completes on the sending ring with an error (the message is
/// aimed at no ring, so the kernel really fails it, as it fails one with `ENOMEM` or
/// `EOVERFLOW` when the target's completion queue is full), and never reaches the target.
pub fn fail_next_msg_rings(count: usize) {
    with(|s| s.msg_rings += count);
}

/// While `refuse` holds, this thread's ring is on a kernel that refuses multishot polls, as
/// Linux 5.11 and 5.12 do (`IORING_POLL_ADD_MULTI` came with 5.13): the runtime's wake-up poll,
/// armed multishot, completes at once with `EINVAL`. A standing condition of the kernel, not a
/// fault consumed once: it holds until `refuse_multishot_poll(false)` or [`clear`], and is not
/// counted in [`pending`]. Set it before building the runtime, which arms its poll at once.
///
/// The refusal is the kernel's own: the poll is sent with `IOSQE_CQE_SKIP_SUCCESS`, which the
/// kernel does not take on a multishot poll (`EINVAL` at submission, as for an unknown flag).
pub fn refuse_multishot_poll(refuse: bool) {
    with(|s| s.refuse_multishot_poll = refuse);
}

/// From now on this thread's kernel lacks the opcode of `kind`, as a kernel older than the
/// opcode does: the runtime's probe of the kernel's opcodes (`IORING_REGISTER_PROBE`, asked
/// once per process) answers it missing on this thread, so the runtime takes the op's
/// fallback, or says which kernel it needs, without submitting it. A standing condition like
/// [`refuse_multishot_poll`], until [`clear`]; not counted in [`pending`]. The multishot kinds
/// share their opcode with the single-shot ones and hide both.
pub fn hide_opcode(kind: OpKind) {
    with(|s| s.hidden.push(kind));
}

/// What is scripted and has not happened yet.
pub fn pending() -> Pending {
    with(|s| Pending {
        enters: s.enters.len(),
        full_pushes: s.full_pushes,
        failed_ops: s.failed_ops.len(),
        registrations: s.registrations.len(),
        msg_rings: s.msg_rings,
    })
}

/// Forgets everything scripted on this thread.
pub fn clear() {
    with(|s| *s = Script::default());
}

/// The scripted error for this enter, if any: returned instead of making the syscall.
pub(crate) fn take_enter_error() -> Option<io::Error> {
    with(|s| s.enters.pop_front()).map(io::Error::from_raw_os_error)
}

/// Whether this push finds the queue "full" (the entry is not written; the driver flushes).
pub(crate) fn take_full_push() -> bool {
    with(|s| {
        let full = s.full_pushes > 0;
        s.full_pushes = s.full_pushes.saturating_sub(1);
        full
    })
}

/// Whether this `MSG_RING` is to be aimed at no ring, so the kernel itself refuses it.
pub(crate) fn take_failed_msg_ring() -> bool {
    with(|s| {
        let fail = s.msg_rings > 0;
        s.msg_rings = s.msg_rings.saturating_sub(1);
        fail
    })
}

/// The scripted submission failure for an op with `opcode`, if the next one matches.
pub(crate) fn take_failed_op(opcode: u8, multishot: bool) -> Option<i32> {
    with(|s| {
        let at = s
            .failed_ops
            .iter()
            .position(|(kind, _)| kind_matches(*kind, opcode, Some(multishot)))?;
        s.failed_ops.remove(at).map(|(_, errno)| errno)
    })
}

/// Whether a multishot poll armed now is to be refused by the kernel.
pub(crate) fn multishot_poll_refused() -> bool {
    with(|s| s.refuse_multishot_poll)
}

/// Whether the probe is to answer that the kernel lacks `opcode` (see [`hide_opcode`]).
pub(crate) fn opcode_hidden(opcode: u8) -> bool {
    with(|s| {
        s.hidden
            .iter()
            .any(|&kind| kind_matches(kind, opcode, None))
    })
}

/// Whether an op with `opcode` is of `kind`.
///
/// The single-shot and multishot forms of receive and accept share an opcode (the multishot
/// flag sits elsewhere in the entry), so the kind of slot the op asked for tells them apart;
/// `None` (asking about the opcode alone) matches both. Matching is by opcode: a zero-copy or
/// vectored send is not `OpKind::Send`.
fn kind_matches(kind: OpKind, opcode: u8, multishot: Option<bool>) -> bool {
    use io_uring::opcode;
    let single = multishot != Some(true);
    let multi = multishot != Some(false);
    match kind {
        OpKind::Any => true,
        OpKind::Recv => opcode == opcode::Recv::CODE && single,
        OpKind::Send => opcode == opcode::Send::CODE,
        OpKind::Accept => opcode == opcode::Accept::CODE && single,
        OpKind::AcceptMulti => opcode == opcode::AcceptMulti::CODE && multi,
        OpKind::RecvMulti => opcode == opcode::RecvMulti::CODE && multi,
        OpKind::Connect => opcode == opcode::Connect::CODE,
        OpKind::SendZc => opcode == opcode::SendZc::CODE,
        OpKind::MkDir => opcode == opcode::MkDirAt::CODE,
        OpKind::MsgRing => opcode == opcode::MsgRingData::CODE,
    }
}

/// The scripted error for this registration, if any: returned before the kernel is asked.
pub(crate) fn take_registration_error() -> Option<io::Error> {
    with(|s| s.registrations.pop_front()).map(io::Error::from_raw_os_error)
}
