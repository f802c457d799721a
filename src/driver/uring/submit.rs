//! Submitting and waiting: the SQ side of the ring, and the one `io_uring_enter` of a turn.
//!
//! Where this sits in the loop: ops `push` entries into the SQ during the turn (through
//! `push_entry`, which never enters the kernel unless the SQ is full); then the runtime calls
//! [`Uring::park`], whose single enter submits the whole batch *and* waits for completions,
//! bounded by the next timer; then `dispatch` (`reap.rs`) reaps. A turn that started ten ops
//! and is woken by one completion thus costs one syscall, where submit-then-wait would cost two.
//!
//! # The errors of `io_uring_enter`, and why none loses an entry
//!
//! The kernel consumes entries from the SQ head; an entry it did not consume stays queued and
//! goes with the next enter. So every error the loop can go on from is turned into `Ok` here
//! (hazard H2 in `docs/HAZARDS.md`): `ETIME` (the wait's timeout, the normal way a timer
//! fires), `EINTR` (a signal), `EBUSY`/`EAGAIN` (the CQ, or the kernel's overflow list, must be
//! drained first; the caller reaps next, which makes room). Only an error that says the ring
//! itself is unusable reaches the runtime. The SQ being full is not an error at all: the push
//! flushes and retries (hazard H3). A completion queue that overflows is not an error either:
//! the kernel keeps the extra completions (NODROP, required at setup) and the next enter with
//! `GETEVENTS` moves them in (hazard H4).

#[cfg(feature = "fault-injection")]
use super::super::faults;
use super::super::Park;
use super::parks;
use super::setup::{CompletionBatch, RingMode};
use super::Uring;
use io_uring::{squeue, types, EnterFlags};
use std::io;
use std::time::Duration;

impl Uring {
    /// Writes `entry` into the SQ. A full SQ is not an error: the queued batch is submitted
    /// and the CQ reaped (`dispatch`: completions must be reaped too, or a kernel that defers
    /// submissions while the CQ is full would never make room), then the push is retried. An
    /// SQPOLL ring's kernel thread takes entries on its own schedule, so with the SQ still full
    /// the thread waits for it (`SQ_WAIT`). 64 rounds without room means the kernel is not
    /// consuming entries at all: an error, not a hang.
    ///
    /// The flush happens inside the push, in the middle of some task's poll, rather than by
    /// failing the push and letting the loop flush: a task that starts more ops in one poll
    /// than the SQ holds (a `join` of many writes) would otherwise fail the extra ones. The
    /// `dispatch` it runs may finish other ops; their wakers wait in `woken` as usual.
    pub(super) fn push_entry(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        self.check_owner()?;
        for _ in 0..64 {
            // A scripted "full queue": the push is refused before it happens.
            #[cfg(feature = "fault-injection")]
            if faults::take_full_push() {
                self.counters.sq_full_flushes.bump();
                self.enter(Park::NoWait)?;
                self.dispatch();
                continue;
            }
            // SAFETY: every pointer in `entry` is owned by the op data the caller keeps in a slot
            // (or the op owns no memory at all), which lives until the final completion: the
            // OpCode contract, upheld by each `unsafe impl OpCode`.
            // The temporary queue handle publishes the new tail when the statement ends: from
            // then on the entry is the kernel's (an SQPOLL thread may take it at once), which
            // is why the slot and the op's owned data exist before the push, never after.
            let pushed = unsafe { self.ring.submission().push(entry) };
            if pushed.is_ok() {
                self.counters.sqes_submitted.bump();
                return Ok(());
            }
            // The queue is full: hand the batch to the kernel and make room.
            self.counters.sq_full_flushes.bump();
            self.enter(Park::NoWait)?;
            self.dispatch();
            if self.mode == RingMode::SqPoll && self.ring.submission().is_full() {
                // SAFETY: no argument; the queued entries are valid (the OpCode contract).
                unsafe {
                    self.enter_fd
                        .enter(0, 0, EnterFlags::SQ_WAIT, std::ptr::null(), 0)
                }?;
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "coring: the submission queue stayed full; the kernel is not consuming entries",
        ))
    }

    /// Submits queued entries and, unless `park` is `NoWait`, waits for a completion: the one
    /// `io_uring_enter` of a loop turn. With nothing to submit and nothing to wait for it makes
    /// no syscall, so a busy runtime whose ops complete in batches pays for none on most turns.
    ///
    /// A wait asks for one completion (or a batch, see [`wait_shape`]) because any completion
    /// may make a task runnable, and the loop cannot know which ops matter most. The timeout is
    /// relative: the runtime computes it from its next timer just before parking, and the
    /// kernel's `ETIME` at its end is how that timer fires (no timeout entry per sleep).
    pub(crate) fn park(&mut self, park: Park) -> io::Result<()> {
        self.check_owner()?;
        // Wake-ups collected outside a turn's dispatch (a full queue drained mid-push, a
        // `push_msg_ring` that reaped to see a refusal, an op a scripted fault failed at its
        // push) must not wait for the kernel's next completion.
        let park = if self.woken.is_empty() {
            park
        } else {
            Park::NoWait
        };
        if park == Park::NoWait {
            let mut sq = self.ring.submission();
            sq.sync();
            // `taskrun`: the kernel has task work (completions of a DEFER_TASKRUN ring) that only
            // an enter runs. `cq_overflow`: completions wait in the kernel's overflow list for
            // room in the CQ (NODROP), and only an enter with GETEVENTS moves them in. Skipping
            // the enter in either case would leave finished ops unreaped indefinitely.
            if sq.is_empty() && !sq.taskrun() && !sq.cq_overflow() {
                return Ok(());
            }
        }
        // Whether this enter cannot sleep: the hint `parks.rs` keeps for stream receives (an
        // answer that came from such a park came without waiting for the peer).
        let busy = park == Park::NoWait
            || self.ring.submission().taskrun()
            || !self.ring.completion().is_empty();
        parks::record(busy);
        self.enter(park)
    }

    /// Submits whatever is queued, without waiting and without reaping: for entries that must
    /// reach the kernel although no turn may follow (a `block_on` returning, the last round
    /// of shutdown).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.check_owner()?;
        if self.ring.submission().is_empty() {
            return Ok(());
        }
        self.enter(Park::NoWait)
    }

    /// `io_uring_enter` with the errors a loop turn can go on from turned into `Ok`: every one
    /// of them leaves unsubmitted entries queued for the next enter, and none loses one.
    pub(super) fn enter(&mut self, park: Park) -> io::Result<()> {
        self.check_owner()?;
        self.counters.enters.bump();
        // A scripted failure is returned instead of the syscall, which then never happens.
        #[cfg(feature = "fault-injection")]
        let result = match faults::take_enter_error() {
            Some(err) => Err(err),
            None => self.submit_and_wait(park),
        };
        #[cfg(not(feature = "fault-injection"))]
        let result = self.submit_and_wait(park);
        match result {
            Ok(_) => Ok(()),
            // ETIME: the wait timed out. EINTR: a signal; the loop comes back. EBUSY/EAGAIN: the
            // completion queue must be drained (or memory freed) first; the caller reaps next.
            // Entries that were not consumed stay queued and go with the next enter.
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!("coring: io_uring_enter failed: {err}"),
            )),
        }
    }

    /// The `io_uring_enter` itself: submit, and wait as `park` and the batching say.
    fn submit_and_wait(&mut self, park: Park) -> io::Result<usize> {
        let timeout = match park {
            Park::NoWait => return self.submit_with(0, None),
            Park::Forever => None,
            Park::Timeout(timeout) => Some(timeout),
        };
        let (want, min_wait_us) = wait_shape(self.batch, timeout);
        // Without a general timeout the kernel ends the whole wait when the minimum wait runs
        // out, events or not: an idle runtime would wake every `max_delay`, and a completion
        // arriving later would be held by the next wait. With one, it goes on sleeping until the
        // first completion after the minimum wait, which then ends the wait at once.
        let timeout = match timeout {
            None if min_wait_us > 0 => Some(BATCHED_WAIT_BOUND),
            other => other,
        };
        match timeout {
            None => self.submit_with(want, None),
            Some(timeout) => {
                let ts = types::Timespec::new()
                    .sec(timeout.as_secs())
                    .nsec(timeout.subsec_nanos());
                let args = types::SubmitArgs::new()
                    .timespec(&ts)
                    .min_wait_usec(min_wait_us);
                self.submit_with(want, Some(&args))
            }
        }
    }

    /// Submits the queue and waits for `want` completions (with `args`' timeouts, if any),
    /// with the flags the `io-uring` crate's `submit_and_wait` / `submit_with_args` pass, but
    /// through [`EnterFd`](super::enter::EnterFd) (the crate's `Submitter` forgets a
    /// registered ring's index).
    fn submit_with(&mut self, want: usize, args: Option<&types::SubmitArgs>) -> io::Result<usize> {
        let sqpoll = self.mode == RingMode::SqPoll;
        let sq = self.ring.submission();
        let len = sq.len();
        // Completions held back by a full completion queue (NODROP) and deferred task work are
        // only flushed or run by an enter that carries GETEVENTS.
        let needs_getevents = sq.cq_overflow() || sq.taskrun();
        let mut flags = EnterFlags::empty();
        if want > 0 || needs_getevents {
            flags |= EnterFlags::GETEVENTS;
        }
        if sqpoll {
            // `need_wakeup` fences, as the kernel's side of the sleep handshake requires.
            if sq.need_wakeup() {
                flags |= EnterFlags::SQ_WAKEUP;
            } else if want == 0 && !needs_getevents {
                // The kernel thread is polling: it takes the entries without a syscall.
                return Ok(len);
            }
        }
        // The `io-uring` crate's queue handle stores its tail for the kernel when dropped; it is
        // dropped before the enter, so the kernel's view of the queue is settled by then.
        drop(sq);
        let (arg, arg_size) = match args {
            Some(args) => {
                flags |= EnterFlags::EXT_ARG;
                (
                    std::ptr::from_ref(args).cast::<libc::c_void>(),
                    std::mem::size_of::<types::SubmitArgs>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        let to_submit = u32::try_from(len).unwrap_or(u32::MAX);
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        // SAFETY: `SubmitArgs` is `repr(transparent)` over `io_uring_getevents_arg`, and it and
        // the timespec it points to outlive the call; with no `EXT_ARG` the argument is null.
        // Queued entries are valid until their completion (the OpCode contract).
        unsafe { self.enter_fd.enter(to_submit, want, flags, arg, arg_size) }
    }
}

/// The general timeout of a batched wait that has no timer to wait for (see
/// `Uring::submit_and_wait`); when it passes the loop simply waits again. An hour: long enough
/// to cost nothing on an idle runtime, and any value works, since its only job is to make
/// the kernel treat the minimum wait as "then the first completion" rather than "then return".
const BATCHED_WAIT_BOUND: Duration = Duration::from_secs(3600);

/// How many completions a wait asks for, and its minimum wait in microseconds (0: none): one
/// completion without batching; with it, the batch, but never a minimum wait longer than the
/// timeout, because the kernel does not end a minimum wait early for a shorter timeout and a due
/// timer would be held back.
pub(super) fn wait_shape(
    batch: Option<CompletionBatch>,
    timeout: Option<Duration>,
) -> (usize, u32) {
    let Some(batch) = batch else {
        return (1, 0);
    };
    let min_wait_us = match timeout {
        None => batch.max_delay_us,
        Some(timeout) => u32::try_from(timeout.as_micros())
            .unwrap_or(u32::MAX)
            .min(batch.max_delay_us),
    };
    if min_wait_us == 0 {
        (1, 0)
    } else {
        (batch.wait_for as usize, min_wait_us)
    }
}
