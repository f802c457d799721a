//! Unix signals as async events: [`ctrl_c`] and [`signal`], read from a signalfd on the ring.
//!
//! # How it works
//!
//! The process has one signalfd, created at the first use and never closed, watching every
//! signal kind anyone asked for. A process-wide registry (under a mutex) counts deliveries per
//! signal and keeps the wakers of the handles waiting for one. At any moment at most one
//! `READ` of the signalfd is in flight, started by a waiting handle on its worker's ring and
//! then driven by a small task of that worker's, not by the handle: so a handle that is kept
//! but never polled again (it lost a `select`) cannot keep the deliveries from the others.
//! When the read completes, the task records the deliveries and wakes every waiter (on any
//! worker), and the next waiter to run starts the next read. A read whose task is dropped
//! (its runtime shut down) still records whatever it takes, and frees the role. On the epoll
//! backend the same read runs when epoll reports the signalfd readable.
//!
//! # Blocking the signal in every thread
//!
//! A signalfd only sees signals that no thread accepts: the signal must be *blocked* in every
//! thread of the process, or the kernel may run its default action (for `SIGINT`, ending the
//! process) on a thread that does not block it. [`signal`] blocks the signal on the calling
//! thread, and threads started afterwards inherit the mask. **Threads started before** (other
//! runtimes' workers, the blocking pool, your own) do not: create the handles (or call
//! [`signal`] for the kinds you need) on the main thread before starting other threads, or
//! block the signals in those threads yourself (`pthread_sigmask`).
//!
//! Deliveries of one signal that arrive close together may be merged into one, as the kernel
//! merges pending signals. A handle sees every delivery that happened after it was created,
//! and none from before, as with tokio: a delivery that arrives while nobody reads the
//! signalfd waits there, and making a handle first takes such waiting deliveries (counting
//! them for the handles that already exist), so they are not reported to the new one.

use crate::op::signalfd::{read_signals, SignalRead};
use crate::op::Op;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The highest signal number Linux has (`SIGRTMAX`).
const MAX_SIGNAL: usize = 64;

/// A kind of signal, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// A signal by its number (say, `libc::SIGUSR1`).
    pub const fn from_raw(signum: i32) -> Self {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }

    /// `SIGINT`: Ctrl-C at the terminal.
    pub const fn interrupt() -> Self {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM`: a polite request to stop (what `kill` and service managers send).
    pub const fn terminate() -> Self {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP`: the terminal went away; daemons often reload their configuration on it.
    pub const fn hangup() -> Self {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGQUIT`.
    pub const fn quit() -> Self {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGUSR1`.
    pub const fn user_defined1() -> Self {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub const fn user_defined2() -> Self {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGCHLD`: a child process changed state.
    pub const fn child() -> Self {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGWINCH`: the terminal was resized.
    pub const fn window_change() -> Self {
        SignalKind(libc::SIGWINCH)
    }
}

struct Registry {
    /// The process's signalfd, once created; never closed.
    fd: Option<i32>,
    /// The signals the signalfd watches.
    watched: Vec<i32>,
    /// Deliveries seen so far, per signal number.
    counts: [u64; MAX_SIGNAL + 1],
    /// Handles waiting for a delivery, by handle id.
    waiters: Vec<(u64, Waker)>,
    /// Whether a read of the signalfd is in flight.
    reading: bool,
    /// Reads that failed (not cancelled) so far: a handle waiting across one reports `None`.
    failures: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    fd: None,
    watched: Vec::new(),
    counts: [0; MAX_SIGNAL + 1],
    waiters: Vec::new(),
    reading: false,
    failures: 0,
});

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// No user code runs under the lock and every unlock leaves the registry consistent, so a
/// poisoned lock still guards valid data.
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts one delivery of each signal number in `signals`.
fn record(registry: &mut Registry, signals: &[i32]) {
    for &signo in signals {
        if let Some(count) = usize::try_from(signo)
            .ok()
            .and_then(|s| registry.counts.get_mut(s))
        {
            *count += 1;
        }
    }
}

/// Records `signals` and ends the current read: wakes every waiter (outside the lock). Also
/// what a dropped read hands back (see `op/signalfd.rs`).
fn finish_read(signals: Vec<i32>) {
    end_read(Ok(signals));
}

/// Ends the current read with its result: a failure other than a cancel (the runtime shutting
/// down, after which another worker's handle takes over) is reported to the waiting handles.
fn end_read(result: io::Result<Vec<i32>>) {
    let waiters = {
        let mut registry = registry();
        match &result {
            Ok(signals) => record(&mut registry, signals),
            Err(err) if err.raw_os_error() == Some(libc::ECANCELED) => {}
            Err(_) => registry.failures += 1,
        }
        registry.reading = false;
        std::mem::take(&mut registry.waiters)
    };
    for (_, waker) in waiters {
        waker.wake();
    }
}

/// Starts a read of the signalfd on this worker's ring, in a task of its own, so it is driven
/// whether or not the handle that started it is polled again, and is no part of the scope (a
/// `timeout_op`) that handle may be polled in.
fn start_read(fd: i32) {
    drop(crate::executor::spawn(ReadTask {
        read: read_signals(fd, finish_read),
        polled: false,
    }));
}

/// The task that drives one read of the signalfd and records its result.
struct ReadTask {
    read: Op<SignalRead>,
    /// Once polled, the op itself frees the reading role, even if dropped (see `op/signalfd.rs`).
    polled: bool,
}

impl Future for ReadTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polled = true;
        let result = std::task::ready!(Pin::new(&mut self.read).poll(cx));
        end_read(result);
        Poll::Ready(())
    }
}

impl Drop for ReadTask {
    fn drop(&mut self) {
        if !self.polled {
            // Dropped unpolled (its runtime shut down first): nothing was submitted.
            end_read(Ok(Vec::new()));
        }
    }
}

/// A stream of deliveries of one signal kind, from [`signal`].
///
/// Any worker may poll it: the read of the signalfd it may start is driven by a task of the
/// worker that started it, not by the handle.
pub struct Signal {
    signo: usize,
    /// Deliveries already reported by this handle.
    seen: u64,
    /// Failed reads already reported by this handle.
    failures_seen: u64,
    id: u64,
    fd: i32,
}

/// Listens for deliveries of `kind` to this process, from now on: a delivery that came before,
/// even one nobody has read yet, is not reported to this handle.
///
/// Blocks the signal on the calling thread (see the [module docs](self) for threads started
/// before) and adds it to the process's signalfd, so it no longer runs its default action. A
/// signal the process ignores (`SIG_IGN`, as a shell sets `SIGINT` for background jobs) is set
/// back to its default disposition, since an ignored signal is discarded before any signalfd
/// could see it.
///
/// # Errors
///
/// `InvalidInput` for a number that is not a signal, or one that cannot be caught (`SIGKILL`,
/// `SIGSTOP`); an OS error if the signalfd cannot be created.
///
/// ```no_run
/// use coring::signal::{signal, SignalKind};
/// # fn main() -> std::io::Result<()> {
/// coring::block_on(async {
///     let mut hangups = signal(SignalKind::hangup())?;
///     while hangups.recv().await.is_some() {
///         println!("reloading the configuration");
///     }
///     Ok(())
/// })
/// # }
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signo = kind.0;
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("coring: signal {signo} {why}"),
        )
    };
    if signo <= 0 || signo as usize > MAX_SIGNAL {
        return Err(invalid("is not a signal number"));
    }
    if signo == libc::SIGKILL || signo == libc::SIGSTOP {
        return Err(invalid("cannot be caught"));
    }
    crate::sys::block_signals(&[signo])?;
    crate::sys::unignore_signal(signo)?;
    let mut registry = registry();
    if !registry.watched.contains(&signo) {
        let mut watched = registry.watched.clone();
        watched.push(signo);
        let fd = crate::sys::signalfd(registry.fd, &watched)?;
        registry.fd = Some(fd);
        registry.watched = watched;
    }
    let fd = registry.fd.ok_or_else(|| invalid("has no signalfd"))?;
    if !registry.reading {
        // Deliveries waiting in the signalfd came before this handle: the handles that exist
        // see them, this one must not. (A read in flight takes them at once anyway.)
        let waiting = crate::sys::take_pending_signals(&registry.watched)?;
        record(&mut registry, &waiting);
    }
    Ok(Signal {
        signo: signo as usize,
        seen: registry.counts[signo as usize],
        failures_seen: registry.failures,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        fd,
    })
}

/// Completes at the next `SIGINT` (Ctrl-C) delivered to the process after the call.
///
/// See [`signal`] for what it sets up, and the [module docs](self) for threads.
pub async fn ctrl_c() -> io::Result<()> {
    let mut interrupts = signal(SignalKind::interrupt())?;
    match interrupts.recv().await {
        Some(()) => Ok(()),
        None => Err(io::Error::other(
            "coring: reading the signalfd failed (is the runtime shutting down?)",
        )),
    }
}

impl Signal {
    /// Waits for the next delivery of the signal: `Some(())` when one came, `None` if this
    /// handle's read of the signalfd failed (say, its runtime is shutting down).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery; see [`recv`](Signal::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let mut registry = registry();
        let count = registry.counts[self.signo];
        if count > self.seen {
            self.seen = count;
            registry.waiters.retain(|(id, _)| *id != self.id);
            return Poll::Ready(Some(()));
        }
        if registry.failures > self.failures_seen {
            self.failures_seen = registry.failures;
            registry.waiters.retain(|(id, _)| *id != self.id);
            return Poll::Ready(None);
        }
        match registry.waiters.iter_mut().find(|(id, _)| *id == self.id) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => registry.waiters.push((self.id, cx.waker().clone())),
        }
        if registry.reading {
            return Poll::Pending;
        }
        registry.reading = true;
        drop(registry);
        start_read(self.fd);
        Poll::Pending
    }
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signal")
            .field("signo", &self.signo)
            .field("seen", &self.seen)
            .finish()
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        registry().waiters.retain(|(id, _)| *id != self.id);
    }
}
