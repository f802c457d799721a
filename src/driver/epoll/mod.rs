//! The readiness backend: epoll, for where io_uring is missing or forbidden.
//!
//! An op here performs its own syscall, non-blocking, on its own data when its future is polled
//! (`OpCode::perform`). If the fd is not ready (`EAGAIN`) the future registers its waker for
//! that fd and direction and returns `Pending`; when epoll reports the fd ready the waker is
//! woken and the next poll tries again. So the kernel never holds an op's memory between two
//! polls: the ownership rule holds trivially, and a dropped op needs no cancel (its waker may
//! stay registered and wake its task once, spuriously; that is harmless).
//!
//! # Why libc epoll and not `polling` or `mio`
//!
//! coring already depends on `libc`, and what it needs from epoll is small: one edge-triggered
//! registration per fd, made the first time an op on it would block and removed when coring
//! closes (or gives away) the fd, plus an eventfd for cross-thread wakes that the runtime
//! already owns. Both crates would add a second layer of registration bookkeeping (`mio`'s
//! tokens, `polling`'s sources, whose default oneshot mode costs an `epoll_ctl` per wait) over
//! the table kept here, for about 150 lines of plain syscalls saved. Every call below is a
//! documented syscall on fds this runtime owns.
//!
//! # One loop turn on epoll
//!
//! Ops run their syscalls while tasks are polled, so when the runtime parks there is nothing
//! to submit: [`Epoll::park`] is one `epoll_wait` (bounded by the next timer), and it turns
//! each event straight into the wakers of the ops waiting on that fd. There is no completion
//! queue, so `Driver::dispatch` does nothing here, and no op outlives its poll, so shutdown
//! has nothing to cancel, only file calls on the blocking pool to wait for (`offload.rs`).
//!
//! # What runs differently here
//!
//! Every public API works on this backend; the io_uring-only means behind some of them
//! degrade: a multishot op is one syscall per poll (`multishot.rs`), a buffer ring is a
//! user-space pool, a fixed buffer a plain one, a zero-copy send a plain send, a file call a
//! blocking-pool job (`offload.rs`). What has no stand-in at all answers with an
//! `Unsupported` error naming it (`unsupported_on_epoll` in `opcode.rs`, `Driver::uring_for`).
//!
//! # Files
//!
//! * `fds.rs`: the fd table (registration, the waiters of each fd, the drained-read shortcut);
//! * `offload.rs`: file calls on the blocking pool, and the orphaned data of dropped ones.

mod fds;
mod offload;
mod wakers;

pub(crate) use offload::{errno_rc, Job, Syscall};

use super::buffer_groups::BufferGroups;
use super::opcode::Abandoned;
use super::{drain_eventfd, fork, Park};
use crate::counters::Counters;
use fds::Waiters;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;

/// The key of the wake eventfd's registration; fds use their own number (never `u64::MAX`: an
/// fd is a non-negative `i32`).
const WAKE_KEY: u64 = u64::MAX;
/// Events taken per `epoll_wait`. More ready fds than this are not lost: epoll keeps the rest
/// on its ready list for the next wait, which comes a turn later.
const EVENTS: usize = 1024;
/// How long shutdown waits for file calls on the blocking pool before leaking their memory.
/// The same bound as the io_uring backend's (`uring/mod.rs`): a file call stuck longer than
/// this (a hung network file system) would otherwise hang the runtime's drop.
const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The readiness backend's state.
///
/// Like `Uring`, one per runtime, on its thread, touched only under the driver's borrow; the
/// `Vec`s handed to the runtime (`woken`, `graveyard`) keep their capacity between turns.
pub(crate) struct Epoll {
    /// The epoll instance (close-on-exec: a program this process `exec`s must not inherit
    /// it, whose waits on it would consume edge-triggered events meant for this runtime).
    epfd: OwnedFd,
    /// Per fd number; grows to the highest fd an op waited on or made non-blocking (fd numbers
    /// are dense and reused lowest-first, so this stays about as long as the process's fd
    /// table).
    fds: Vec<Waiters>,
    /// `epoll_wait`'s output buffer, allocated once (`EVENTS` entries): no allocation per wait.
    events: Vec<libc::epoll_event>,
    /// The runtime's wake eventfd, drained when it reports. The runtime owns it; this backend
    /// only watches it (set by `arm_wake_fd`, once).
    wake_fd: Option<RawFd>,
    /// Wakers of ops whose fd became ready, woken by the runtime after the borrow ends (as on
    /// io_uring: a waker is user code).
    woken: Vec<Waker>,
    /// Shared with the runtime's metrics: `enters` counts `epoll_wait` calls and
    /// `completions` the events they returned; the ring-only counters stay 0.
    counters: Arc<Counters>,
    /// `fork::generation()` at creation: an epoll instance is shared with a forked child, and
    /// the child registering fds in it would steal the parent's events.
    forks: u64,
    /// Shutdown began: new waits are refused, so no op parks on an fd after the last wake.
    shut_down: bool,
    /// Why this backend runs although nobody asked for it.
    fallback_reason: Option<String>,
    /// Data of ops dropped while their call ran on the blocking pool (see `offload.rs`).
    /// Added by `orphan` (from `Op`'s drop), removed by `reap_orphans` once the call is done,
    /// leaked by shutdown past its deadline.
    orphans: Vec<(std::sync::Arc<Job>, Box<dyn Abandoned>)>,
    /// Orphans' data once their call is done, for the runtime to drop after the borrow.
    graveyard: Vec<Box<dyn Abandoned>>,
    /// `BufRing` group ids handed out, and those given back (as io_uring numbers them).
    buffer_groups: BufferGroups,
}

impl Epoll {
    /// A new epoll instance; `fallback_reason` says why io_uring was not used, if it was refused.
    pub(crate) fn new(
        fallback_reason: Option<String>,
        counters: Arc<Counters>,
    ) -> io::Result<Self> {
        // SAFETY: plain syscall with a flag argument; it returns a new fd or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("coring: epoll_create1 failed: {err}"),
            ));
        }
        Ok(Epoll {
            // SAFETY: `fd` is a new fd that nothing else owns.
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
            fds: Vec::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS],
            wake_fd: None,
            woken: Vec::new(),
            counters,
            forks: fork::generation(),
            shut_down: false,
            fallback_reason,
            orphans: Vec::new(),
            graveyard: Vec::new(),
            buffer_groups: BufferGroups::default(),
        })
    }

    /// A group id for a new `BufRing` (a user-space pool here; the id names nothing in the
    /// kernel, but rings of one runtime keep distinct ids, as on io_uring).
    pub(crate) fn next_buffer_group(&mut self) -> io::Result<u16> {
        self.buffer_groups.take()
    }

    /// A dropped `BufRing`'s group id may be handed out again.
    pub(crate) fn release_buffer_group(&mut self, bgid: u16) {
        self.buffer_groups.give_back(bgid);
    }

    /// Why io_uring was refused, if this backend runs by fallback (the set-up error's text, kept
    /// for `Runtime::fallback_reason`).
    pub(crate) fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The counters this backend writes (shared with the runtime's metrics).
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// `epoll_ctl(op, fd)` with `key` as the event's data, which `park` gets back with every
    /// event of `fd` (the fd number, or `WAKE_KEY`).
    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: key };
        // SAFETY: `event` is a live local the kernel only reads; both fds are open.
        let rc = unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Watches the runtime's wake eventfd (level-triggered: drained when seen). Level-triggered,
    /// unlike the op fds: it needs none of their bookkeeping, and `drain_eventfd` empties it
    /// each time it reports, so it reports again only after the next write.
    pub(crate) fn arm_wake_fd(&mut self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, WAKE_KEY)
            .map_err(|err| {
                io::Error::new(err.kind(), format!("coring: epoll_ctl failed: {err}"))
            })?;
        self.wake_fd = Some(fd);
        Ok(())
    }

    /// Waits for readiness (unless `park` is `NoWait`) and collects the wakers of ready fds.
    ///
    /// An event wakes *every* op waiting in its direction, not one: with edge triggering no
    /// second event comes for readiness the first one announced, so an op left asleep could
    /// sleep forever. Those that lose the race find `EAGAIN` and wait again. An event for an
    /// fd nobody waits on still matters: it clears `drained`, so the next read tries.
    /// `EINTR` (a signal during the wait) is a normal return: the loop comes back.
    pub(crate) fn park(&mut self, park: Park) -> io::Result<()> {
        if fork::forked_since(self.forks) {
            return Err(fork::inherited_error());
        }
        self.reap_orphans();
        // Wakers already collected (a `forget` woke an fd's waiters) must not wait for an
        // event that may never come: poll without sleeping.
        let timeout = if !self.woken.is_empty() {
            0
        } else if !self.orphans.is_empty() {
            // Nothing wakes this loop when an orphan's call ends: look again soon.
            10
        } else {
            match park {
                Park::NoWait => 0,
                Park::Forever => -1,
                // Rounded up: waking before a timer's deadline would only make the loop wait again.
                Park::Timeout(d) => {
                    i32::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
                }
            }
        };
        self.counters.enters.bump();
        // SAFETY: `events` is a live buffer of `EVENTS` entries the kernel writes at most
        // `EVENTS` of; the epoll fd is open.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                EVENTS as libc::c_int,
                timeout,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                return Ok(());
            }
            return Err(io::Error::new(
                err.kind(),
                format!("coring: epoll_wait failed: {err}"),
            ));
        }
        let n = n as usize;
        self.counters.completions.add(n as u64);
        for i in 0..n {
            // Copied out: the struct is packed on some targets.
            let (flags, key) = (self.events[i].events, self.events[i].u64);
            if key == WAKE_KEY {
                // The runtime drains its remote queue every turn; the eventfd only woke the wait.
                if let Some(fd) = self.wake_fd {
                    drain_eventfd(fd);
                }
                continue;
            }
            let Some(waiters) = self.fds.get_mut(key as usize) else {
                continue;
            };
            // A hang-up or error wakes both directions: each op's syscall then reports it. The
            // error is not read here (`SO_ERROR`): the op that retries gets it from its own
            // syscall, as it would on io_uring, so both backends give the same errors.
            let hup = (libc::EPOLLHUP | libc::EPOLLERR) as u32;
            if flags & ((libc::EPOLLRDHUP as u32) | hup) != 0 {
                waiters.read_closed = true;
            }
            if flags & libc::EPOLLPRI as u32 != 0 {
                // Urgent data: reads stop short at its mark from now on (see `short_reads_drain`).
                waiters.short_reads_drain = false;
                waiters.drained = false;
            }
            if flags & ((libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32 | hup) != 0 {
                waiters.drained = false;
                waiters.read.take_into(&mut self.woken);
            }
            if flags & (libc::EPOLLOUT as u32 | hup) != 0 {
                waiters.write.take_into(&mut self.woken);
            }
        }
        Ok(())
    }

    /// Moves the collected wakers into `out` (the caller wakes them after the borrow ends).
    pub(crate) fn take_woken(&mut self, out: &mut Vec<Waker>) {
        out.append(&mut self.woken);
    }

    /// Moves the data of finished orphans into `out`, to be dropped after the borrow ends.
    pub(crate) fn take_graveyard(&mut self, out: &mut Vec<Box<dyn Abandoned>>) {
        out.append(&mut self.graveyard);
    }

    /// One round of shutdown: nothing is in the kernel, so there is nothing to cancel; waiters
    /// left are handed to the runtime to drop after the borrow. Done once no orphan's call runs
    /// on the blocking pool; past `SHUTDOWN_DEADLINE` their memory is leaked, never freed.
    ///
    /// The ops whose wakers are handed out here find, at their next poll, that `wait` refuses
    /// them: so no op parks on an fd after this last wake-up.
    pub(crate) fn shutdown(&mut self, started: std::time::Instant) -> bool {
        self.shut_down = true;
        for waiters in &mut self.fds {
            waiters.read.release_into(&mut self.woken);
            waiters.write.release_into(&mut self.woken);
        }
        self.reap_orphans();
        if self.orphans.is_empty() {
            return true;
        }
        if started.elapsed() >= SHUTDOWN_DEADLINE {
            eprintln!(
                "coring: {} file operations did not finish at shutdown; leaking their memory",
                self.orphans.len()
            );
            for orphan in self.orphans.drain(..) {
                std::mem::forget(orphan);
            }
            return true;
        }
        // Nothing to wait on: a pool thread only sets its job's flag, which no fd reports.
        std::thread::sleep(std::time::Duration::from_millis(1));
        false
    }
}
