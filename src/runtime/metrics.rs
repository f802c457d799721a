//! What a runtime has been doing: one [`Metrics`] snapshot per runtime (per worker on a
//! [`MultiRuntime`](super::MultiRuntime)).
//!
//! The counters are always on. Each is written only by the thread that owns the runtime, a
//! plain load and store with no atomic read-modify-write (see `src/counters.rs`), and reading
//! them from another thread is a handful of loads: no message to the worker, no lock, and a
//! worker stuck in a long task is still reported. The cost on the HTTP benchmark is measured in
//! `benches/README.md` ("Cost of the always-on metrics").

use super::{Runtime, WorkerHandle};
use crate::counters::Counters;
use crate::driver::{Backend, RingMode};
use std::sync::atomic::Ordering::Relaxed;

/// A snapshot of one runtime's counters and gauges, from [`Runtime::metrics`] or
/// [`MultiRuntime::metrics`](super::MultiRuntime::metrics).
///
/// Counters (`u64`) only grow, from 0 when the runtime was built; take two snapshots and
/// subtract for a rate. Gauges (`usize`) say how things stand now. Counters are read one by one,
/// so a snapshot taken from another thread while the worker runs may mix values a few events
/// apart.
///
/// On the epoll backend ([`Metrics::backend`]) the counters that apply are kept: `enters`
/// counts `epoll_wait` calls and `completions` the readiness events they returned, and the
/// executor's and timers' counters are the same as on io_uring. The ring-only ones
/// (submission entries, `sq_full_flushes`, the CQ overflow counts, the in-flight gauges,
/// cancels, abandoned ops, multishot re-arms, `ENOBUFS`, `MSG_RING`) stay 0 there: no op is in
/// the kernel between two polls.
///
/// ```
/// let runtime = coring::Runtime::new()?;
/// runtime.block_on(async { coring::runtime::nop().await })?;
/// let metrics = runtime.metrics();
/// // On epoll (io_uring refused, or `CORING_BACKEND=epoll`) nothing is submitted.
/// if metrics.backend == coring::Backend::IoUring {
///     assert!(metrics.sqes_submitted >= 1 && metrics.enters >= 1);
/// }
/// assert_eq!(metrics.ops_in_flight, 0);
/// println!("{metrics:#?}");
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// The backend the runtime runs on; on epoll the ring-only fields below stay 0.
    pub backend: Backend,
    /// The ring set-up flags in effect (`SINGLE_ISSUER|DEFER_TASKRUN`, `COOP_TASKRUN`, ...:
    /// its `Display` names them); [`RingMode::NoRing`] on epoll.
    pub ring_mode: RingMode,
    /// Whether the ring is entered by its index in the thread's registered-ring table
    /// (`IORING_REGISTER_RING_FDS`, Linux 5.18), which spares each `io_uring_enter` the fd
    /// lookup. `false` on older kernels, on epoll, and for runtimes beyond the 16th alive on one
    /// thread (the kernel's limit per thread): those enter by the plain ring fd, which works the
    /// same, a little slower.
    pub ring_fd_registered: bool,
    /// Whether the ring's wake-up poll (how other threads rouse it, through its eventfd) is
    /// multishot: one entry for every wake-up. `false` on kernels before 5.13, which refuse a
    /// multishot poll: the runtime then arms a single-shot poll after each wake-up (counted in
    /// [`multishot_rearms`](Metrics::multishot_rearms)). Known once the kernel has answered the
    /// first poll, at the runtime's first turn; `false` on epoll.
    pub wake_poll_multishot: bool,
    /// Submission entries queued for the kernel: operations, cancels and the runtime's own
    /// (wake-up polls, `MSG_RING`). Every one is submitted by the next `io_uring_enter`.
    pub sqes_submitted: u64,
    /// `io_uring_enter` calls made (submitting, waiting, or both); on epoll, `epoll_wait` calls.
    pub enters: u64,
    /// Times the submission queue was full when an entry was queued, so the batch so far was
    /// submitted early to make room. Often non-zero means the ring is too small (`Builder::entries`).
    pub sq_full_flushes: u64,
    /// Completions reaped; on epoll, readiness events `epoll_wait` returned.
    pub completions: u64,
    /// The kernel's CQ overflow counter: completions it *dropped* because the completion queue
    /// was full. coring requires `IORING_FEAT_NODROP`, under which the kernel holds overflowing
    /// completions back instead, so this stays 0 unless the kernel ran out of memory for them.
    pub cq_overflow: u64,
    /// Reaps that found the kernel holding completions back because the completion queue was
    /// full (`IORING_SQ_CQ_OVERFLOW` set): a burst larger than the completion queue.
    pub cq_overflow_reaps: u64,
    /// Operations the kernel may still complete.
    pub ops_in_flight: usize,
    /// Operation slots in use: in flight, or completed and not yet taken by their future.
    pub op_slots_in_use: usize,
    /// Cancel requests sent to the kernel (for dropped operations, timeouts, shutdown).
    pub cancels_sent: u64,
    /// Cancel requests that found their operation still in the kernel.
    pub cancels_in_flight: u64,
    /// Operations whose future was dropped before their final completion: the runtime kept
    /// their buffers until the kernel let go of them.
    pub abandoned_ops: u64,
    /// Multishot streams (accept loops, receive streams) whose owner took a last result that
    /// was neither a cancel nor end of file (say `ENOBUFS`: the buffer ring ran dry, or an
    /// error), plus each time the kernel ended the runtime's wake-up poll and the runtime armed
    /// it again. A counted stream is not necessarily re-armed: an accept loop arms a new one
    /// when polled again and a receive stream after `ENOBUFS`, but a receive ended by an error
    /// stops. A stream ended by a cancel (its owner's, its limit of untaken results, a
    /// timeout's), or dropped before its last result is taken, is not counted, even when its
    /// owner arms a new one. Always 0 on the readiness (epoll) backend.
    pub multishot_rearms: u64,
    /// Completions that failed with `ENOBUFS`: a buffer ring ran dry (back-pressure).
    pub enobufs: u64,
    /// Task polls.
    pub tasks_polled: u64,
    /// Tasks spawned and not yet finished.
    pub live_tasks: usize,
    /// Tasks woken on this runtime's own thread.
    pub local_wakes: u64,
    /// Tasks woken from other threads (other workers, `spawn_blocking`, plain threads).
    pub remote_wakes: u64,
    /// Times another thread had to rouse this runtime from the kernel with `MSG_RING`.
    pub notified_by_msg_ring: u64,
    /// Times another thread had to rouse this runtime through its eventfd (a thread with no
    /// ring or with an SQPOLL ring, a runtime built with `msg_ring(false)`, or the fallback for
    /// a refused `MSG_RING`).
    pub notified_by_eventfd: u64,
    /// `MSG_RING` wake-ups this runtime's ring sent to other workers.
    pub msg_ring_sent: u64,
    /// `MSG_RING` wake-ups this runtime sent that the kernel refused (an error completion, say
    /// `ENOMEM` or `EOVERFLOW`): each was delivered through the target's eventfd instead.
    pub msg_ring_failed: u64,
    /// `MSG_RING` wake-ups this runtime's ring received.
    pub msg_ring_received: u64,
    /// Timers armed (`sleep`, `timeout`, `interval` ticks).
    pub timers_armed: u64,
    /// Timers that fired (not counting those dropped or reset first).
    pub timers_fired: u64,
    /// Timers armed and not yet fired or dropped. A timer dropped away from its runtime (on
    /// another thread, or outside `block_on`) cannot reach it, so it counts until its deadline.
    pub pending_timers: usize,
}

impl Metrics {
    /// The snapshot of `counters`; gauges as their owner last published them.
    fn read(counters: &Counters, backend: Backend, ring_mode: RingMode) -> Metrics {
        let gauge = |c: &crate::counters::Counter| usize::try_from(c.get()).unwrap_or(usize::MAX);
        Metrics {
            backend,
            ring_mode,
            ring_fd_registered: counters.ring_fd_registered(),
            wake_poll_multishot: counters.wake_poll_multishot(),
            sqes_submitted: counters.sqes_submitted.get(),
            enters: counters.enters.get(),
            sq_full_flushes: counters.sq_full_flushes.get(),
            completions: counters.completions.get(),
            cq_overflow: counters.cq_dropped.get(),
            cq_overflow_reaps: counters.cq_overflows.get(),
            ops_in_flight: gauge(&counters.ops_in_flight),
            op_slots_in_use: gauge(&counters.op_slots_in_use),
            cancels_sent: counters.cancels_sent.get(),
            cancels_in_flight: counters.cancels_in_flight.get(),
            abandoned_ops: counters.abandoned_ops.get(),
            multishot_rearms: counters.multishot_rearms.get(),
            enobufs: counters.enobufs.get(),
            tasks_polled: counters.tasks_polled.get(),
            live_tasks: gauge(&counters.live_tasks),
            local_wakes: counters.local_wakes.get(),
            remote_wakes: counters.remote_wakes.get(),
            notified_by_msg_ring: 0,
            notified_by_eventfd: 0,
            msg_ring_sent: counters.msg_ring_sent.get(),
            msg_ring_failed: counters.msg_ring_failed.get(),
            msg_ring_received: counters.msg_ring_received.get(),
            timers_armed: counters.timers_armed.get(),
            timers_fired: counters.timers_fired.get(),
            pending_timers: gauge(&counters.pending_timers),
        }
    }
}

impl WorkerHandle {
    /// This worker's metrics, read from any thread without a message to the worker (see
    /// [`Metrics`]). The gauges are kept as things happen, except `op_slots_in_use`, which is
    /// as of the worker's latest loop turn (it is published before the worker waits for the
    /// kernel and after it reaps). Once the worker has stopped, the gauges are 0 and the
    /// counters keep their totals.
    pub fn metrics(&self) -> Metrics {
        let shared = &self.shared;
        Metrics {
            notified_by_msg_ring: shared.notified.msg_ring.load(Relaxed),
            notified_by_eventfd: shared.notified.eventfd.load(Relaxed),
            ..Metrics::read(&shared.counters, self.backend(), self.ring_mode)
        }
    }
}

impl Runtime {
    /// This runtime's counters and gauges. The gauges are exact (counted now, on this thread).
    pub fn metrics(&self) -> Metrics {
        let core = &self.core;
        let driver = core.driver.borrow();
        let (by_msg_ring, by_eventfd) = core.executor.notify_counts();
        Metrics {
            ops_in_flight: driver.in_flight(),
            op_slots_in_use: driver.slots_in_use(),
            live_tasks: core.executor.live_tasks(),
            pending_timers: core.timers.borrow().len(),
            notified_by_msg_ring: by_msg_ring,
            notified_by_eventfd: by_eventfd,
            ..Metrics::read(
                &core.executor.shared().counters,
                driver.backend(),
                driver.mode(),
            )
        }
    }

    /// The driver's counters.
    #[deprecated(since = "0.1.0", note = "use `Runtime::metrics()`")]
    #[allow(deprecated)]
    pub fn ring_stats(&self) -> RingStats {
        let m = self.metrics();
        RingStats {
            enters: m.enters,
            pushed: m.sqes_submitted,
            completions: m.completions,
            msg_ring_wakes: m.msg_ring_received,
            cq_dropped: u32::try_from(m.cq_overflow).unwrap_or(u32::MAX),
            cq_overflows: m.cq_overflow_reaps,
            cancels_in_flight: m.cancels_in_flight,
        }
    }

    /// Operations the kernel may still complete.
    #[deprecated(since = "0.1.0", note = "use `Runtime::metrics().ops_in_flight`")]
    pub fn ops_in_flight(&self) -> usize {
        self.core.driver.borrow().in_flight()
    }

    /// Operation slots in use.
    #[deprecated(since = "0.1.0", note = "use `Runtime::metrics().op_slots_in_use`")]
    pub fn op_slots_in_use(&self) -> usize {
        self.core.driver.borrow().slots_in_use()
    }

    /// Wake-ups from other threads: `(through MSG_RING, through eventfd)`.
    #[deprecated(
        since = "0.1.0",
        note = "use `Runtime::metrics()`: `notified_by_msg_ring`, `notified_by_eventfd`"
    )]
    pub fn wake_counts(&self) -> (u64, u64) {
        self.core.executor.notify_counts()
    }

    /// Tasks spawned and not yet finished.
    #[deprecated(since = "0.1.0", note = "use `Runtime::metrics().live_tasks`")]
    pub fn live_tasks(&self) -> usize {
        self.core.executor.live_tasks()
    }

    /// Timers registered and not yet fired.
    #[deprecated(since = "0.1.0", note = "use `Runtime::metrics().pending_timers`")]
    pub fn pending_timers(&self) -> usize {
        self.core.timers.borrow().len()
    }
}

/// The driver's counters, as [`Runtime::ring_stats`] reported them before [`Metrics`].
#[deprecated(since = "0.1.0", note = "use `Metrics` (`Runtime::metrics()`)")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// [`Metrics::enters`].
    pub enters: u64,
    /// [`Metrics::sqes_submitted`].
    pub pushed: u64,
    /// [`Metrics::completions`].
    pub completions: u64,
    /// [`Metrics::msg_ring_received`].
    pub msg_ring_wakes: u64,
    /// [`Metrics::cq_overflow`].
    pub cq_dropped: u32,
    /// [`Metrics::cq_overflow_reaps`].
    pub cq_overflows: u64,
    /// [`Metrics::cancels_in_flight`].
    pub cancels_in_flight: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::UdpSocket;
    use std::time::Duration;

    /// What another thread reads: the gauges as kept step by step by their owners.
    fn published(runtime: &Runtime) -> Metrics {
        Metrics::read(
            &runtime.core.executor.shared().counters,
            runtime.backend(),
            runtime.ring_mode(),
        )
    }

    /// The in-flight gauge other threads read is kept op by op by the driver (no scan of the
    /// slots); it must agree with a count of the slots through submissions, completions and
    /// abandoned ops.
    #[test]
    fn the_in_flight_gauge_agrees_with_a_count_of_the_slots() {
        // The gauge is the ring's: on epoll no op is ever in flight.
        let runtime = crate::runtime::io_uring_runtime();
        let agree = |step: &str| {
            let (exact, kept) = (runtime.metrics(), published(&runtime));
            assert_eq!(exact.ops_in_flight, kept.ops_in_flight, "{step}");
            exact.ops_in_flight
        };
        let socket = std::rc::Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let reads: Vec<_> = (0..3)
            .map(|_| {
                let socket = socket.clone();
                runtime.spawn(async move { socket.recv(vec![0u8; 16]).await.0 })
            })
            .collect();
        runtime.block_on(crate::task::yield_now());
        assert_eq!(agree("three receives armed"), 3);
        // A receive given up on by a timeout: abandoned, cancelled, then reaped.
        runtime.block_on(async {
            let late = crate::time::timeout(Duration::from_millis(1), socket.recv(vec![0u8; 8]));
            assert!(late.await.is_err());
        });
        agree("a receive abandoned");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        for _ in 0..3 {
            peer.send_to(b"x", addr).unwrap();
        }
        for read in reads {
            assert_eq!(runtime.block_on(read).unwrap().unwrap(), 1);
        }
        runtime.block_on(crate::time::sleep(Duration::from_millis(20)));
        assert_eq!(agree("all done"), 0);
        let kept = published(&runtime);
        assert!(
            kept.abandoned_ops >= 1 && kept.cancels_sent >= 1,
            "{kept:#?}"
        );
        assert_eq!((kept.live_tasks, kept.pending_timers), (0, 0), "{kept:#?}");
    }
}
