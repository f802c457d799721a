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
//! tokens, `polling`'s oneshot re-arming, which costs an `epoll_ctl` per wait) over the table
//! kept here, for about 150 lines of plain syscalls saved. Every call below is a documented
//! syscall on fds this runtime owns.
//!
//! # The fd table
//!
//! Indexed by fd number: whether the fd is registered, and the wakers of ops waiting to read and
//! to write. Registration is edge-triggered (`EPOLLET`), so after an op saw `EAGAIN` any new
//! readiness produces an event at the next `epoll_wait`. A registration must go when its fd is
//! closed, or a new fd given the same number would be thought registered and never report:
//! `SharedFd` closes through [`Epoll::close`] and gives fds away through [`Epoll::forget`].
//!
//! Why edge-triggered, with one registration for both directions: level-triggered would report
//! a readable socket on every `epoll_wait` until some op reads it, spinning the loop while no
//! task wants the data; per-wait re-arming (`EPOLLONESHOT`) costs an `epoll_ctl` per wait. With
//! `EPOLLET` the fd is added once and an event comes only on a change, which is enough because
//! an op only waits after its own syscall saw `EAGAIN`: any readiness after that is a change.
//! The price is the bookkeeping of `drained`, `read_closed` and `short_reads_drain` below, for
//! reads that skip their syscall (see [`Epoll::may_be_ready`]).

mod offload;

pub(crate) use offload::{errno_rc, Job, Syscall};

use super::buffer_groups::BufferGroups;
use super::opcode::{Abandoned, Interest};
use super::{drain_eventfd, fork, Park};
use crate::counters::Counters;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;

/// The key of the wake eventfd's registration; fds use their own number.
const WAKE_KEY: u64 = u64::MAX;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 1024;
/// How long shutdown waits for file calls on the blocking pool before leaking their memory.
const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The readiness backend's state.
pub(crate) struct Epoll {
    /// The epoll instance (close-on-exec).
    epfd: OwnedFd,
    /// Per fd number; grows to the highest fd an op waited on or made non-blocking (fd numbers
    /// are dense and reused lowest-first, so this stays about as long as the process's fd
    /// table).
    fds: Vec<Waiters>,
    /// `epoll_wait`'s output buffer, allocated once (`EVENTS` entries): no allocation per wait.
    events: Vec<libc::epoll_event>,
    /// The runtime's wake eventfd, drained when it reports.
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
    orphans: Vec<(std::sync::Arc<Job>, Box<dyn Abandoned>)>,
    /// Orphans' data once their call is done, for the runtime to drop after the borrow.
    graveyard: Vec<Box<dyn Abandoned>>,
    /// `BufRing` group ids handed out, and those given back (as io_uring numbers them).
    buffer_groups: BufferGroups,
}

/// The ops waiting on one fd.
#[derive(Default)]
struct Waiters {
    registered: bool,
    /// Made non-blocking by this runtime (cleared when the fd is closed or given away).
    nonblocking: bool,
    /// Found drained by a stream read (`Performed::Drained`) and not reported readable since:
    /// a read may wait without trying. Only set while registered, so an event clears it.
    drained: bool,
    /// The peer closed its side (or the fd failed), as epoll reported: sticky, because a read
    /// finding no data still returns at once (end of stream, or the error), so the fd is never
    /// "drained" again and no further edge would come to say so.
    read_closed: bool,
    /// A short read may be taken as "drained": a TCP socket that has not reported urgent data.
    /// Set at registration. A TCP read stops short at the urgent mark, and a Unix stream read
    /// after bytes that carried fds (or came from another writer), with more bytes queued and
    /// no new edge to come, so neither may skip its next syscall.
    short_reads_drain: bool,
    /// Ops waiting to read (or accept); all woken by one readable event, each retries its
    /// syscall and the losers wait again. A `Vec`, not one waker: several tasks accepting on
    /// one listener, or receiving on one UDP socket, wait on the same fd.
    read: Vec<Waker>,
    /// Ops waiting to write (or for a connect to finish).
    write: Vec<Waker>,
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

    pub(crate) fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The counters this backend writes (shared with the runtime's metrics).
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: key };
        // SAFETY: `event` is a live local the kernel only reads; both fds are open.
        let rc = unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Watches the runtime's wake eventfd (level-triggered: drained when seen).
    pub(crate) fn arm_wake_fd(&mut self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, WAKE_KEY)
            .map_err(|err| {
                io::Error::new(err.kind(), format!("coring: epoll_ctl failed: {err}"))
            })?;
        self.wake_fd = Some(fd);
        Ok(())
    }

    /// Wakes `waker` once `fd` may be ready for `interest`: the op saw `EAGAIN` just now.
    pub(crate) fn wait(&mut self, fd: RawFd, interest: Interest, waker: &Waker) -> io::Result<()> {
        if self.shut_down {
            return Err(io::Error::other("coring: the runtime is shutting down"));
        }
        if fork::forked_since(self.forks) {
            // The epoll instance is shared with the parent: registering here would steal its events.
            return Err(fork::inherited_error());
        }
        let index = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if self.fds.len() <= index {
            self.fds.resize_with(index + 1, Waiters::default);
        }
        if !self.fds[index].registered {
            let events = (libc::EPOLLIN
                | libc::EPOLLOUT
                | libc::EPOLLRDHUP
                | libc::EPOLLPRI
                | libc::EPOLLET) as u32;
            match self.ctl(libc::EPOLL_CTL_ADD, fd, events, index as u64) {
                Ok(()) => {}
                // Still in the set from before (a registration the table had forgotten).
                Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {}
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("coring: cannot watch fd {fd} for readiness with epoll: {err}"),
                    ))
                }
            }
            self.fds[index].registered = true;
            self.fds[index].short_reads_drain = is_tcp(fd);
        }
        let waiters = &mut self.fds[index];
        let list = match interest {
            Interest::Read => &mut waiters.read,
            Interest::Write => &mut waiters.write,
        };
        if !list.iter().any(|w| w.will_wake(waker)) {
            list.push(waker.clone());
        }
        Ok(())
    }

    /// Makes `fd` non-blocking unless this runtime already did.
    pub(crate) fn ensure_nonblocking(&mut self, fd: RawFd) -> io::Result<()> {
        let index = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if self.fds.len() <= index {
            self.fds.resize_with(index + 1, Waiters::default);
        }
        if !self.fds[index].nonblocking {
            set_nonblocking(fd)?;
            self.fds[index].nonblocking = true;
        }
        Ok(())
    }

    /// Takes in an fd coring now owns: any entry under its number is stale, left by an fd closed
    /// where this runtime could not see it (dropped outside `block_on`, or under another
    /// runtime), and would make the new one be thought non-blocking and registered.
    pub(crate) fn adopt(&mut self, fd: RawFd) -> io::Result<()> {
        self.forget(fd);
        self.ensure_nonblocking(fd)
    }

    /// Whether an op on `fd` should try its syscall: false only for a read on a registered fd
    /// found drained and not reported readable since.
    #[inline]
    pub(crate) fn may_be_ready(&self, fd: RawFd, interest: Interest) -> bool {
        let Some(waiters) = usize::try_from(fd).ok().and_then(|i| self.fds.get(i)) else {
            return true;
        };
        !(interest == Interest::Read && waiters.registered && waiters.drained)
    }

    /// A stream read came back short on the registered `fd`: drained, if short reads prove it
    /// there (`short_reads_drain`); see [`Epoll::may_be_ready`].
    #[inline]
    pub(crate) fn drained(&mut self, fd: RawFd) {
        if let Some(waiters) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) {
            waiters.drained =
                waiters.registered && waiters.short_reads_drain && !waiters.read_closed;
        }
    }

    /// Forgets `fd`'s registration: it is about to be closed or leaves coring's hands.
    pub(crate) fn forget(&mut self, fd: RawFd) {
        let Some(waiters) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) else {
            return;
        };
        if !waiters.registered {
            waiters.nonblocking = false;
            return;
        }
        waiters.nonblocking = false;
        waiters.drained = false;
        waiters.read_closed = false;
        waiters.short_reads_drain = false;
        waiters.registered = false;
        // Waiters left belong to dropped ops (a live op keeps its fd open): they are woken,
        // harmlessly, and dropped after the borrow like every other waker.
        self.woken.append(&mut waiters.read);
        self.woken.append(&mut waiters.write);
        // Failure means the fd was never or is no longer in the set; nothing to undo either way.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Closes `fd` now, forgetting its registration first.
    pub(crate) fn close(&mut self, fd: RawFd) {
        self.forget(fd);
        // SAFETY: the caller owned `fd` (the last `SharedFd` clone) and hands it over to close.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }

    /// Waits for readiness (unless `park` is `NoWait`) and collects the wakers of ready fds.
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
            // A hang-up or error wakes both directions: each op's syscall then reports it.
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
                self.woken.append(&mut waiters.read);
            }
            if flags & (libc::EPOLLOUT as u32 | hup) != 0 {
                self.woken.append(&mut waiters.write);
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
    pub(crate) fn shutdown(&mut self, started: std::time::Instant) -> bool {
        self.shut_down = true;
        for waiters in &mut self.fds {
            self.woken.append(&mut waiters.read);
            self.woken.append(&mut waiters.write);
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
        std::thread::sleep(std::time::Duration::from_millis(1));
        false
    }
}

/// Whether `fd` is a TCP socket (asked once, when it is registered): see `short_reads_drain`.
fn is_tcp(fd: RawFd) -> bool {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_DOMAIN writes one c_int into the live local `domain`, at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&raw mut domain).cast(),
            &mut len,
        )
    };
    rc == 0 && (domain == libc::AF_INET || domain == libc::AF_INET6)
}

/// Makes `fd` non-blocking, so the readiness backend's syscalls on it never block the core.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let mut on: libc::c_int = 1;
    // SAFETY: FIONBIO reads one c_int from the live local `on`; `fd` is open (the caller owns it).
    let rc = unsafe { libc::ioctl(fd, libc::FIONBIO, &mut on) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("coring: cannot make fd {fd} non-blocking for epoll: {err}"),
        ));
    }
    Ok(())
}
