//! Building the ring: the best flags this kernel accepts, and plain errors when it accepts none.
//!
//! The modes are tried best first and a kernel that does not know a flag answers `EINVAL`, so
//! one runtime works from Linux 5.11 to today without asking the user which kernel it runs on;
//! [`RingMode`] records what was taken. Any other error (`EPERM`, `ENOSYS`, `ENOMEM`) means no
//! mode will work, and it becomes the one error message naming the cause and the remedy
//! ([`explain_setup_error`]), which `select.rs` may turn into a fallback to epoll instead.
//!
//! Where it sits: `Uring::new` (`uring/mod.rs`) calls [`build_ring`] once per runtime, on the
//! runtime's thread. Nothing here is on the hot path; what it decides (the mode) is read on
//! it, where SQPOLL differs: `push_entry` (waits for the kernel thread), `submit_with` (skips
//! the enter while the thread polls) and `msg_ring.rs` (sends no `MSG_RING`).
//!
//! # Flags every mode gets
//!
//! * `CQSIZE` at four times the SQ: see [`build_ring`];
//! * `CLAMP`: entries above the kernel's maximum are lowered to it rather than refused;
//! * `MADV_DONTFORK` on the mappings (`dontfork`): a forked child has no copy of the queues,
//!   so it cannot run entries through the parent's ring (hazard H18, `driver/fork.rs`).
//!
//! Required features, refused without: `NODROP` and `EXT_ARG` ([`check_features`]).

use io_uring::IoUring;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// How the ring was set up, best first. Recorded so benchmarks and bug reports can say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingMode {
    /// `SINGLE_ISSUER | DEFER_TASKRUN`: completions are produced only when the runtime asks for
    /// them, on its own thread, with no interrupts. The fastest mode (Linux 6.1+).
    ///
    /// `SINGLE_ISSUER` is a promise that one thread submits, which a runtime keeps by never
    /// leaving its thread (and `MSG_RING` from other threads' rings is not a submission to
    /// this one). The cost of `DEFER_TASKRUN` is that finished work waits in the kernel until
    /// this thread enters with `GETEVENTS`, so `park` must enter whenever the kernel flags
    /// pending task work (`IORING_SQ_TASKRUN`), even with nothing to submit.
    DeferTaskrun,
    /// `COOP_TASKRUN`: no inter-processor interrupts for completions (Linux 5.19+). Completion
    /// work runs at the next kernel transition of this thread instead of interrupting it; with
    /// `TASKRUN_FLAG` the kernel also flags pending work, which `park` reads as above.
    CoopTaskrun,
    /// No optional flags (Linux 5.11+): completions may be posted by interrupting whatever
    /// the thread is doing, which costs throughput but nothing in correctness.
    Plain,
    /// A kernel thread polls the submission queue (`SQPOLL`), asked for with `Builder::sqpoll`.
    /// Entries are taken without a syscall while the thread is awake (it burns a core to do
    /// so); it sleeps after the idle time, and an enter with `SQ_WAKEUP` rouses it. Never
    /// picked automatically, and never downgraded: whoever asks for it wants it or an error.
    /// `MSG_RING` wake-ups are not sent from such a ring (see `msg_ring.rs`).
    SqPoll,
    /// No ring at all: the runtime runs on the epoll backend (see [`Backend`](crate::Backend)).
    /// Not a set-up `build_ring` tries; reported by `Driver::mode` so metrics and benchmark
    /// tables have one type to say how I/O ran.
    NoRing,
}

/// The kernel's own names for the flags, so a metrics dump or a benchmark table says exactly
/// what was asked of `io_uring_setup`.
impl fmt::Display for RingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RingMode::DeferTaskrun => "SINGLE_ISSUER|DEFER_TASKRUN",
            RingMode::CoopTaskrun => "COOP_TASKRUN",
            RingMode::Plain => "plain",
            RingMode::SqPoll => "SQPOLL",
            RingMode::NoRing => "none (epoll)",
        })
    }
}

/// Ring parameters chosen by the `Builder` (`src/runtime/builder.rs`). `Copy`: a
/// multi-worker runtime hands the same configuration to every worker's ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingConfig {
    /// SQ entries asked for (`Builder::entries`); rounded up to a power of two in 2..=32768.
    /// A full SQ is flushed, not an error (`Uring::push_entry`), so this bounds how many
    /// entries a turn batches into one enter, not how many ops may be in flight.
    pub(crate) entries: u32,
    /// SQPOLL idle time in milliseconds, if asked for: how long the kernel thread polls an
    /// empty SQ before it sleeps. `Some` selects [`RingMode::SqPoll`] and nothing else.
    pub(crate) sqpoll_idle_ms: Option<u32>,
    /// Completion batching for waits, if asked for (`Builder::completion_batch`).
    pub(crate) batch: Option<CompletionBatch>,
    /// The backend asked for with `Builder::backend`; `None` chooses (see `driver/select.rs`).
    pub(crate) backend: Option<crate::driver::Backend>,
}

/// How a waiting `io_uring_enter` batches completions: it returns once `wait_for` completions
/// are ready, or `max_delay_us` after it started if at least one is (`min_wait_usec`), or at
/// the first completion after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletionBatch {
    /// Completions a wait asks for before returning early.
    pub(crate) wait_for: u32,
    /// Longest a wait holds a completion that has arrived, waiting for more: the latency a
    /// request may pay for the batching. Never longer than the time to the next timer (see
    /// `wait_shape` in `uring/submit.rs`).
    pub(crate) max_delay_us: u32,
}

/// Creates the ring with the best mode the kernel takes, downgrading on `EINVAL`.
///
/// `EINVAL` alone downgrades because it is what a kernel says to a flag it does not know;
/// every other error is about the process or the machine (forbidden, no memory, no fds) and
/// would be the same for every mode, so it is returned at once, explained.
pub(crate) fn build_ring(config: RingConfig) -> io::Result<(IoUring, RingMode)> {
    let entries = config.entries.clamp(2, 32768).next_power_of_two();
    // Multishot ops post many completions per entry and every in-flight op may complete in the
    // same turn, so the CQ is made larger than the SQ's default double. It may still overflow:
    // NODROP (required below) keeps the extra completions in the kernel until reaped.
    let cq_entries = entries * 4;
    let attempts: &[RingMode] = if config.sqpoll_idle_ms.is_some() {
        &[RingMode::SqPoll]
    } else {
        &[
            RingMode::DeferTaskrun,
            RingMode::CoopTaskrun,
            RingMode::Plain,
        ]
    };
    let mut last_err = None;
    for &mode in attempts {
        let mut builder = IoUring::builder();
        // A forked child gets no copy of the queues (see `fork`). CLAMP: a kernel with a lower
        // maximum gives its maximum instead of failing.
        builder.setup_cqsize(cq_entries).setup_clamp().dontfork();
        match mode {
            // TASKRUN_FLAG makes the kernel say (in the SQ flags) when it has task work waiting,
            // which `Uring::park` reads to skip the enter when there is none. SUBMIT_ALL keeps
            // submitting a batch past an entry that fails at submission, so one bad entry does
            // not leave the rest queued behind it.
            RingMode::DeferTaskrun => {
                builder
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag()
                    .setup_submit_all();
            }
            RingMode::CoopTaskrun => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            RingMode::Plain | RingMode::NoRing => {}
            RingMode::SqPoll => {
                builder.setup_sqpoll(config.sqpoll_idle_ms.unwrap_or(1000));
            }
        }
        match builder.build(entries) {
            Ok(ring) => {
                // A missing feature is the kernel's, not the mode's: a lesser mode would lack
                // it too, so this ends the search with the error.
                check_features(&ring, config)?;
                super::probe::record(&ring);
                if matches!(mode, RingMode::DeferTaskrun | RingMode::CoopTaskrun) {
                    // Those set-ups came with Linux 6.1 and 5.19, as did `POLL_FIRST`.
                    POLL_FIRST.store(true, Ordering::Relaxed);
                }
                return Ok((ring, mode));
            }
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => last_err = Some(err),
            Err(err) => return Err(explain_setup_error(err)),
        }
    }
    Err(explain_setup_error(last_err.unwrap_or_else(|| {
        io::Error::from_raw_os_error(libc::EINVAL)
    })))
}

/// Whether this kernel knows `IORING_RECVSEND_POLL_FIRST` (5.19): some ring of this process
/// was set up with a flag as recent. Before, a receive with the flag could fail with `EINVAL`.
///
/// Process-wide, not per ring: it is a fact about the kernel, and every ring of the process
/// runs on the same one. Inferred from the set-up flags rather than probed, because probing
/// an opcode's flags would take a receive on a socket; an SQPOLL-only process therefore never
/// uses `POLL_FIRST`, which costs a little speed and nothing else.
static POLL_FIRST: AtomicBool = AtomicBool::new(false);

/// See [`POLL_FIRST`]; read by `op/recv.rs` for every stream receive (one relaxed load).
#[inline]
pub(crate) fn poll_first_supported() -> bool {
    POLL_FIRST.load(Ordering::Relaxed)
}

/// Refuses a ring without the features the driver's soundness and waits rely on: NODROP (a
/// full CQ keeps completions instead of dropping them, and a dropped final completion would
/// leave its slot, and the op's memory, in place forever) and EXT_ARG (the wait's timeout is
/// passed with the enter, which is how timers fire without a timeout entry per sleep).
fn check_features(ring: &IoUring, config: RingConfig) -> io::Result<()> {
    let params = ring.params();
    if !params.is_feature_nodrop() || !params.is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "coring: this kernel's io_uring lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG; \
             coring needs Linux 5.11 or newer (5.19+ recommended, 6.1+ for the fastest mode)",
        ));
    }
    if config.batch.is_some() && !params.is_feature_min_timeout() {
        return Err(min_timeout_unsupported());
    }
    Ok(())
}

/// Without `IORING_FEAT_MIN_TIMEOUT` the field `min_wait_usec` is the kernel's padding, which
/// it requires to be zero: every batched wait would fail with `EINVAL` and stop the runtime at
/// its first park. Refused at build instead, with an error that says why.
fn min_timeout_unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "coring: Builder::completion_batch needs IORING_FEAT_MIN_TIMEOUT (Linux 6.12 or newer); \
         build the runtime without completion_batch on this kernel",
    )
}

/// Turns a failed `io_uring_setup` into an error that says why and what to do about it
/// (invariant 8 in `docs/ARCHITECTURE.md`). The error keeps the errno's `ErrorKind`, which
/// is what `select.rs` looks at to decide on a fallback. The sysctl is read only here, on
/// failure: it explains a refusal, it does not predict one.
pub(crate) fn explain_setup_error(err: io::Error) -> io::Error {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|s| s.trim().to_owned());
    let message = match err.raw_os_error() {
        Some(libc::ENOSYS) => "coring: io_uring is not supported here: io_uring_setup failed with \
             ENOSYS. The kernel was built without io_uring (CONFIG_IO_URING), is older than 5.1, \
             or a seccomp filter answers ENOSYS for it (gVisor and some sandboxes do). coring needs \
             Linux 5.11 or newer with io_uring; run on such a kernel or outside the sandbox."
            .to_owned(),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            let sysctl = match disabled.as_deref() {
                Some("0") | None => "kernel.io_uring_disabled is 0 here, so a seccomp filter is the \
                     likely cause"
                    .to_owned(),
                Some(v) => format!(
                    "kernel.io_uring_disabled is {v} here, which is the likely cause: set it to 0 \
                     (sysctl -w kernel.io_uring_disabled=0), or with 1 add this user to the group \
                     in kernel.io_uring_group"
                ),
            };
            format!(
                "coring: io_uring is forbidden for this process: io_uring_setup failed with EPERM. \
                 Either a seccomp filter blocks it (Docker's and containerd's default seccomp \
                 profiles do: run with --security-opt seccomp=unconfined or a profile that allows \
                 io_uring_setup, io_uring_enter and io_uring_register), or the \
                 kernel.io_uring_disabled sysctl forbids it; {sysctl}."
            )
        }
        Some(libc::ENOMEM) => "coring: io_uring_setup failed with ENOMEM: the ring's memory could \
             not be locked. Raise RLIMIT_MEMLOCK (ulimit -l, or LimitMEMLOCK= in systemd) or ask \
             for fewer entries with Builder::entries."
            .to_owned(),
        Some(libc::EMFILE) | Some(libc::ENFILE) => {
            format!("coring: io_uring_setup failed: out of file descriptors ({err})")
        }
        _ => format!("coring: io_uring_setup failed: {err}"),
    };
    io::Error::new(err.kind(), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_names_both_causes_and_the_remedies() {
        let err = explain_setup_error(io::Error::from_raw_os_error(libc::EPERM));
        let text = err.to_string();
        assert!(text.contains("seccomp"), "{text}");
        assert!(text.contains("io_uring_disabled"), "{text}");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn enosys_says_the_kernel_lacks_io_uring() {
        let text = explain_setup_error(io::Error::from_raw_os_error(libc::ENOSYS)).to_string();
        assert!(text.contains("ENOSYS") && text.contains("5.11"), "{text}");
    }

    #[test]
    fn missing_min_timeout_names_the_kernel_and_the_way_out() {
        let err = min_timeout_unsupported();
        let text = err.to_string();
        assert!(
            text.contains("6.12") && text.contains("completion_batch"),
            "{text}"
        );
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }

    /// A flag mistake that made the kernel answer `EINVAL` to the best mode would still give a
    /// working, slower runtime, and nothing else would notice the downgrade.
    #[test]
    fn this_machine_gets_the_fastest_mode() {
        let config = RingConfig {
            backend: None,
            entries: 8,
            sqpoll_idle_ms: None,
            batch: None,
        };
        let (_ring, mode) = build_ring(config).expect("io_uring is available on the test machine");
        assert_eq!(mode, RingMode::DeferTaskrun);
    }
}
