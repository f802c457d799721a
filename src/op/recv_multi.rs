//! Multishot `RECV` with buffer selection: one submission, a completion per arrival, each naming
//! the provided buffer the kernel filled.
//!
//! The stream ends at the first completion without `F_MORE`: end of file (0), an error,
//! `ENOBUFS` when the ring ran dry (back-pressure: the caller re-arms once buffers return), or
//! `ECANCELED` when it had `max_waiting` results untaken (the driver cancels it then, so a
//! reader that stopped reading cannot take the whole ring from the others sharing it).
//!
//! # Who owns a ring buffer when
//!
//! The entry points at no memory: it names the ring's group, and for each arrival the kernel
//! takes the next free buffer of that ring, writes the bytes from its start, and posts its id
//! in the completion's flags (`F_BUFFER`). From then the buffer is the reader's ([`RingBuf`],
//! counted in [`RingReceiver`]'s `held`) until it is dropped, which gives it back to the ring
//! for the kernel to pick again. A connection waiting for bytes therefore holds no buffer:
//! that is the point of the op (an idle connection costs its armed slot, not a buffer).
//!
//! # Dropped in flight
//!
//! The driver cancels the receive and keeps [`RecvMulti`] until the completion that ends the
//! stream. Bytes that arrived for it (queued untaken, or racing the cancel) are lost to the
//! reader: [`Tracked`] records it, so the stream's next read fails instead of skipping them,
//! and their buffers go back to the ring when the op data is dropped (`dispose`).
//!
//! # Kernels and the readiness backend
//!
//! Buffer rings need Linux 5.19 and multishot receive 6.0; the runtime read pool checks the
//! release before making a ring, and a reader whose first receive the kernel refuses with
//! `EINVAL` reads plainly from then on (`buf/pool.rs`, `io/buf_reader/pooled.rs`); a user's
//! `recv_stream` gets that `EINVAL` as an error naming the kernel it needs. On epoll
//! there is no kernel ring: [`RecvMulti`]'s `perform` picks a free buffer in user space, calls
//! `recv(2)`, and reports the result as the kernel would (`F_MORE | F_BUFFER` with the id), so
//! [`RingReceiver`] runs the same code on both backends.

use super::loss::{LossFlag, Tracked};
use crate::buf::{BufRing, RingBuf};
use crate::driver::multishot::MultiOp;
use crate::driver::opcode::{CqeResult, Interest, Multishot, OpCode, Performed, MORE};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll};

/// `IORING_CQE_F_BUFFER`: the completion names a provided buffer. Used by the emulated
/// receive (epoll), so that `CqeResult::buffer_id` reads its items as the kernel's.
const BUFFER: u32 = 1;
/// `IORING_CQE_BUFFER_SHIFT`: the buffer id sits in the flags' top 16 bits.
const BUFFER_SHIFT: u32 = 16;

/// A multishot receive's data: no buffer of its own; the kernel picks one from the ring per
/// arrival and names it in the completion's flags.
pub(crate) struct RecvMulti {
    /// Kept open by this clone until the op data goes, after the final completion (module docs).
    fd: SharedFd,
    /// The provided-buffer ring the kernel fills (by group id). A clone: it keeps the ring's
    /// memory allocated and registered while the kernel may still write into it, even if every
    /// stream and reader using the ring is gone.
    ring: BufRing,
    /// Buffers filled after the stream was dropped. `dispose` runs under the driver's borrow
    /// and giving a buffer back wakes the ring's waiters (user code), so they go back to the
    /// ring when this data is dropped, outside the borrow, at the final completion (soon: the
    /// stream was cancelled).
    ///
    /// Boxed: one pointer instead of a `Vec`'s three in every idle reader's receive, at the
    /// cost of an allocation only a dropped stream that still receives pays.
    #[allow(clippy::box_collection)]
    disposed: Option<Box<Vec<RingBuf>>>,
}

/// Receives from `fd` into buffers of `ring` until the kernel ends the stream, or until
/// `max_waiting` results wait untaken; tracked by the read direction's `loss` flag. Built
/// unsubmitted: the entry is pushed at the stream's first poll.
fn recv_multi(
    fd: &SharedFd,
    ring: &BufRing,
    loss: &LossFlag,
    max_waiting: usize,
) -> MultiOp<Tracked<RecvMulti>> {
    let data = RecvMulti {
        fd: fd.clone(),
        ring: ring.clone(),
        disposed: None,
    };
    MultiOp::with_limit(loss.track_stream(data), max_waiting)
}

impl RecvMulti {
    /// The ring its completions' buffer ids index, to turn a result into a chunk.
    pub(crate) fn ring(&self) -> &BufRing {
        &self.ring
    }
}

// SAFETY: the entry carries no pointer: the kernel writes into buffers of the ring, whose memory
// the `BufRing` clone in `self.ring` keeps registered and allocated for as long as this op's data
// lives (until its final completion). The socket is kept open by the `SharedFd` clone. On epoll,
// `perform` receives into a buffer it took from the ring's free list: no reader holds it, the
// ring clone keeps it allocated, and the call ends before `perform` returns.
unsafe impl OpCode for RecvMulti {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(self.fd.types_fd(), self.ring.group_id()).build()
    }

    /// Emulated multishot (epoll): one receive per poll, into a buffer of the ring taken only
    /// now, so a connection waiting for bytes holds none; the item names it as the kernel would.
    fn perform(&mut self) -> Performed {
        let Some((bid, ptr, len)) = self.ring.pick() else {
            // The ring ran dry: the reader waits for a buffer to come back, then re-arms.
            return Performed::Done(CqeResult::from_raw(-libc::ENOBUFS, 0));
        };
        let picked = MORE | BUFFER | (u32::from(bid) << BUFFER_SHIFT);
        // SAFETY: `pick` handed out a free buffer of `len` bytes at `ptr` that no reader holds
        // (the kernel has no ring on epoll), kept allocated by `self.ring`.
        match unsafe { super::recv_now(&self.fd, ptr, len, 0) } {
            Performed::Done(CqeResult { result: Ok(n), .. }) if n > 0 => {
                let cqe = CqeResult {
                    result: Ok(n),
                    flags: picked,
                };
                // Fewer bytes than room: none are left until epoll reports the socket again.
                match (n as usize) < len {
                    true => Performed::Drained(cqe, self.fd.raw()),
                    false => Performed::Done(cqe),
                }
            }
            // End of stream, an error, or no bytes yet: the buffer goes back unused.
            other => {
                self.ring.unpick(bid);
                other
            }
        }
    }

    fn readiness(&self) -> Option<(RawFd, Interest)> {
        Some((self.fd.raw(), Interest::Read))
    }

    /// Each completion after the stream was dropped: a filled buffer is taken (so the kernel
    /// will not pick it again while it is counted as the reader's) and kept for the drop.
    fn dispose(&mut self, cqe: &CqeResult) {
        if let Some(bid) = cqe.buffer_id() {
            // Bytes arrived after the stream was dropped: they are lost to the reader (the
            // wrapper, `Tracked`, records it).
            let disposed = self.disposed.get_or_insert_with(Box::default);
            disposed.push(self.ring.take(bid, 0));
        }
    }
}

impl Multishot for RecvMulti {}

/// The loop behind [`RecvStream`](crate::net::RecvStream): arms a multishot receive on the
/// stream's socket, turns its completions into chunks of the ring, and re-arms it when the
/// kernel ends it for want of buffers or because the reader holds its share (see "Sharing a
/// ring" on `RecvStream`).
pub(crate) struct RingReceiver {
    /// The stream's socket, for arming each receive.
    fd: SharedFd,
    /// The ring receives are armed on; may change to another ring of the read pool when this
    /// one runs dry (`from_pool`).
    ring: BufRing,
    /// The receive in flight; `None` between two (the next poll arms one).
    op: Option<MultiOp<Tracked<RecvMulti>>>,
    /// End of file, or an error that ends the stream: every later poll gives `None`.
    ended: bool,
    /// The stream's read direction: a receive is armed only once earlier cancelled reads
    /// settled, and one dropped with chunks untaken records their loss.
    loss: LossFlag,
    /// Chunks handed out and not yet dropped; the counter is made with the first chunk, so a
    /// reader that never received anything (an idle connection) allocates none.
    held: Option<Rc<Cell<usize>>>,
    /// How many of the ring's buffers the stream may hold: `held` plus those received and not
    /// yet taken.
    /// (A u32, as a ring's size: every idle reader has one.)
    max_buffers: u32,
    /// The ring is the runtime read pool's: when it runs dry, another of the pool's may serve.
    from_pool: bool,
    /// An error [`try_next`](RingReceiver::try_next) met, for the next `poll_next`.
    deferred: Option<io::Error>,
}

/// What one completion of the receive means to the stream.
enum Arrival {
    /// Bytes, in a buffer of the ring now held by the reader (counted in `held`).
    Data(RingBuf),
    /// The peer closed its side (a 0-byte result): the stream ends after what came before.
    Eof,
    /// `ENOBUFS`: the ring had no free buffer. Back-pressure, not an error: wait until a
    /// reader drops a chunk (or move to another pool ring), then arm again.
    NoBuffers,
    /// The receive was cancelled for holding `max_buffers`: arm a new one.
    Paused,
    /// Any other error: handed to the reader. The stream ends with it if it was the receive's
    /// last result, unless it is a `timeout_op` deadline, which ends only that receive.
    Failed(io::Error),
}

/// What one completion means to the stream; a buffer it names becomes a [`RingBuf`] counted in
/// `held` (made with the first one), or goes straight back at end of file. Called with the op's
/// data by `MultiOp::poll_next`, which owns it.
fn classify(
    data: &mut Tracked<RecvMulti>,
    cqe: CqeResult,
    held: &mut Option<Rc<Cell<usize>>>,
) -> Arrival {
    let bid = cqe.buffer_id();
    match (cqe.result, bid) {
        (Ok(0), bid) => {
            if let Some(bid) = bid {
                data.data().ring().recycle(bid);
            }
            Arrival::Eof
        }
        (Ok(n), Some(bid)) => {
            let held = held.get_or_insert_with(Rc::default);
            Arrival::Data(data.data().ring().take_held(bid, n as usize, held))
        }
        (Ok(_), None) => Arrival::Failed(io::Error::other(
            "coring: a buffer-select receive completed without naming its buffer",
        )),
        (Err(err), _) if err.raw_os_error() == Some(libc::ENOBUFS) => Arrival::NoBuffers,
        // Only the stream's own limit cancels a running receive (a dropped stream's results go
        // elsewhere); at shutdown, re-arming fails and says why.
        (Err(err), _) if err.raw_os_error() == Some(libc::ECANCELED) => Arrival::Paused,
        (Err(err), _) => Arrival::Failed(err),
    }
}

impl RingReceiver {
    /// A receiver on `fd` through `ring`, for the read direction whose flag is `loss`; it may
    /// hold a quarter of the ring. A quarter, so that a reader that stops reading, its chunks
    /// and queued results held, leaves most of a shared ring to the others; a reader alone on
    /// its ring raises it with `set_max_buffers`. Nothing is armed until the first poll.
    pub(crate) fn new(fd: &SharedFd, ring: &BufRing, loss: &LossFlag) -> RingReceiver {
        RingReceiver {
            fd: fd.clone(),
            ring: ring.clone(),
            op: None,
            ended: false,
            loss: loss.clone(),
            held: None,
            max_buffers: (ring.capacity() / 4).max(1) as u32,
            from_pool: false,
            deferred: None,
        }
    }

    /// Marks the ring as the runtime read pool's: when it runs dry, the receiver moves to a
    /// ring of the pool with buffers (the pool adds one if it may) instead of waiting.
    pub(crate) fn set_from_pool(&mut self) {
        self.from_pool = true;
    }

    /// For a receiver on the read pool, a ring of the pool with buffers to fill.
    fn other_pool_ring(&self) -> Option<BufRing> {
        if !self.from_pool {
            return None;
        }
        crate::buf::pool::current_ring_with_buffers()
    }

    /// Chunks handed out and not yet dropped (each `RingBuf` made by `take_held` counts itself
    /// down when dropped, wherever the reader moved it).
    fn held(&self) -> usize {
        self.held.as_ref().map_or(0, |held| held.get())
    }

    /// See `RecvStream::max_buffers` (at least 1).
    pub(crate) fn set_max_buffers(&mut self, max: usize) {
        self.max_buffers = max.clamp(1, u32::MAX as usize) as u32;
    }

    /// Whether the ring belongs to the runtime running now: a ring is registered with one
    /// ring fd, and a receive on another runtime's ring would name a group its kernel ring
    /// does not know.
    pub(crate) fn serves_current_runtime(&self) -> bool {
        self.ring.check_current_runtime().is_ok()
    }

    /// A chunk the armed receive has already received, without waiting (and without arming
    /// a receive): lets a reader gather what is there into one buffer. An error met on the
    /// way is kept for the next `poll_next`, so it is never lost.
    pub(crate) fn try_next(&mut self) -> Option<RingBuf> {
        if self.op.is_none() || self.deferred.is_some() {
            return None;
        }
        // The task polls with its own waker before it waits again, so leaving this no-op
        // waker in the slot meanwhile loses no wake-up.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.poll_next(&mut cx) {
            Poll::Ready(Some(Ok(chunk))) => Some(chunk),
            Poll::Ready(Some(Err(err))) => {
                self.deferred = Some(err);
                None
            }
            Poll::Ready(None) | Poll::Pending => None,
        }
    }

    /// The next chunk, `None` at end of file; see `RecvStream::poll_next`.
    ///
    /// A loop, because some completions are not for the reader: the receive ended without an
    /// item, paused at the reader's share, or ran out of buffers while the kernel already has
    /// some back. Each of those arms a new receive and polls again; the loop returns at a
    /// chunk, an error, the end, or a wait (for bytes, for earlier cancelled reads to settle,
    /// or for a buffer to come back).
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<RingBuf>>> {
        if let Some(err) = self.deferred.take() {
            return Poll::Ready(Some(Err(err)));
        }
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            if self.op.is_none() {
                // Arming (or re-arming) a receive: earlier cancelled reads must have settled.
                if let Err(err) = std::task::ready!(self.loss.poll_ready(cx, "read")) {
                    self.ended = true;
                    return Poll::Ready(Some(Err(err)));
                }
                if let Err(err) = self.ring.check_current_runtime() {
                    self.ended = true;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            // Room for results waiting untaken: what the reader does not already hold. At
            // least 1: a receive armed with no room would be cancelled at its first result,
            // and a reader holding its share still gets one chunk per poll.
            let max_buffers = self.max_buffers as usize;
            let room = max_buffers.saturating_sub(self.held()).max(1);
            let (fd, ring, loss) = (&self.fd, &self.ring, &self.loss);
            let op = self
                .op
                .get_or_insert_with(|| recv_multi(fd, ring, loss, room));
            let held = &mut self.held;
            let arrival = match op.poll_next(cx, |data, cqe| classify(data, cqe, held)) {
                Poll::Pending => return Poll::Pending,
                // The kernel ended the receive without a final item: arm a new one.
                Poll::Ready(None) => {
                    self.op = None;
                    continue;
                }
                Poll::Ready(Some(arrival)) => arrival,
            };
            if op.is_done() {
                self.op = None;
            }
            match arrival {
                Arrival::Data(buf) => {
                    // A reader keeping its chunks: stop receiving once it holds its share.
                    if self.held() >= max_buffers {
                        if let Some(op) = &self.op {
                            op.cancel();
                        }
                    }
                    return Poll::Ready(Some(Ok(buf)));
                }
                Arrival::Paused => {}
                Arrival::Eof => {
                    self.ended = true;
                    return Poll::Ready(None);
                }
                Arrival::NoBuffers => {
                    // Back-pressure: wait until a reader hands a buffer back, then re-arm.
                    // Nothing can hand one back between this check and the wait (the ring
                    // is this thread's), so no return is missed.
                    self.op = None;
                    if !self.ring.kernel_has_buffers() {
                        // Readers that stopped reading may hold this ring for good: a pool
                        // reader moves to a ring with buffers (the pool adds one if it may).
                        if let Some(ring) = self.other_pool_ring() {
                            self.ring = ring;
                            continue;
                        }
                        self.ring.wait_for_buffers(cx.waker());
                        return Poll::Pending;
                    }
                }
                Arrival::Failed(err) => {
                    // A `timeout_op` deadline ends the receive, not the stream.
                    self.ended = self.op.is_none() && err.kind() != io::ErrorKind::TimedOut;
                    // The pool's readers read plainly after this `EINVAL` (they need the
                    // errno); a user's stream gets it explained.
                    let refused = err.raw_os_error() == Some(libc::EINVAL) && self.held.is_none();
                    if refused && !self.from_pool {
                        return Poll::Ready(Some(Err(multishot_refused(&err))));
                    }
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
    }
}

/// A receive stream's first result was `EINVAL`: the kernel lacks multishot receive (Linux
/// 6.0) or, before 5.19, the buffer rings it picks from.
fn multishot_refused(err: &io::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "coring: TcpStream::recv_stream needs Linux 6.0 (multishot IORING_OP_RECV into a \
             provided buffer ring); this kernel refused it ({err}). Read with TcpStream::read, \
             or through a BufReader, which falls back by itself"
        ),
    )
}

/// What a reader stuck on its ring needs to see: whether a receive is armed, how many buffers
/// the reader holds of how many it may, and whether it may move to another pool ring.
impl std::fmt::Debug for RingReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingReceiver")
            .field("ring", &self.ring)
            .field("armed", &self.op.is_some())
            .field("held", &self.held())
            .field("max_buffers", &self.max_buffers)
            .field("from_pool", &self.from_pool)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
