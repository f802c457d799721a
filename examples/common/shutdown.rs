//! Graceful shutdown for the server examples, on `SIGINT` (Ctrl-C) or `SIGTERM`.
//!
//! [`block_signals`] runs first thing, on the main thread, so every thread started later
//! inherits the blocked mask and the signals reach `coring::signal`'s signalfd instead of
//! ending the process. Each worker's accept loop waits for either signal beside its next
//! connection ([`accept_or_stop`]); on one it drops its listener (new connections are refused),
//! marks its core as stopping, and waits up to the grace period (`--grace-ms`, default 10 s)
//! for its connection tasks ([`Connection`] guards) to end. A connection that is idle between requests
//! ends at once ([`unless_stopped`]); one in the middle of a request finishes it, response
//! included. Then the worker returns and the process exits 0.

// Each server example uses some of these (hyper_server and axum_hello only the accept side).
#![allow(dead_code)]

use coring::signal::{signal, Signal, SignalKind};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

/// How long a stopping worker waits for its connections, by default.
pub const GRACE_MS: u64 = 10_000;

/// The grace period in milliseconds (`--grace-ms`), set once by the main thread.
static GRACE: AtomicU64 = AtomicU64::new(GRACE_MS);

/// Sets the grace period for every worker.
pub fn set_grace(grace: Duration) {
    GRACE.store(grace.as_millis() as u64, Ordering::Relaxed);
}

/// The grace period.
pub fn grace() -> Duration {
    Duration::from_millis(GRACE.load(Ordering::Relaxed))
}

/// Blocks `SIGINT` and `SIGTERM` on this thread (and the threads it starts from now on).
pub fn block_signals() -> io::Result<()> {
    signal(SignalKind::interrupt())?;
    signal(SignalKind::terminate())?;
    Ok(())
}

#[derive(Default)]
struct Core {
    stopping: Cell<bool>,
    connections: Cell<usize>,
    /// Tasks to wake when the core starts stopping or a connection ends, by waiter id (one
    /// entry per waiting future, removed when it ends, so a long-lived connection adds none).
    waiters: RefCell<HashMap<u64, Waker>>,
    next_id: Cell<u64>,
}

impl Core {
    /// Registers (or refreshes) waiter `id`.
    fn wait(&self, id: u64, waker: &Waker) {
        self.waiters.borrow_mut().insert(id, waker.clone());
    }
}

/// A waiter's registration with its core, removed on drop.
struct Waiter {
    core: Rc<Core>,
    id: u64,
}

impl Waiter {
    fn new() -> Waiter {
        let core = core();
        let id = core.next_id.get();
        core.next_id.set(id + 1);
        Waiter { core, id }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.core.waiters.borrow_mut().remove(&self.id);
    }
}

thread_local! {
    static CORE: Rc<Core> = Rc::default();
}

fn core() -> Rc<Core> {
    CORE.with(Rc::clone)
}

fn wake_all(core: &Core) {
    let wakers: Vec<Waker> = core.waiters.borrow().values().cloned().collect();
    for waker in wakers {
        waker.wake();
    }
}

/// The signals a worker waits for.
pub struct Stop {
    interrupt: Signal,
    terminate: Signal,
}

impl Stop {
    /// Listens for `SIGINT` and `SIGTERM` on this worker.
    pub fn new() -> io::Result<Stop> {
        Ok(Stop {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
}

/// `next` (the next connection), or `None` once a stop signal came: then this core is marked
/// stopping, and its idle connections are told to close.
pub async fn accept_or_stop<T>(stop: &mut Stop, next: impl Future<Output = T>) -> Option<T> {
    let mut next = pin!(next);
    let stopped = poll_fn(|cx| {
        if let Poll::Ready(item) = next.as_mut().poll(cx) {
            return Poll::Ready(Some(item));
        }
        let int = stop.interrupt.poll_recv(cx).is_ready();
        let term = stop.terminate.poll_recv(cx).is_ready();
        if int || term {
            println!("{}: shutting down", if int { "SIGINT" } else { "SIGTERM" });
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    if stopped.is_none() {
        let core = core();
        core.stopping.set(true);
        wake_all(&core);
    }
    stopped
}

/// One of this core's connections, counted while the guard lives. A guard held inside the
/// connection's task, rather than a future wrapped around the connection, which would hold a
/// second copy of the connection's (large) future in every task.
pub struct Connection(Rc<Core>);

impl Connection {
    /// Counts one more connection on this core.
    pub fn new() -> Connection {
        let core = core();
        core.connections.set(core.connections.get() + 1);
        Connection(core)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
        wake_all(&self.0);
    }
}

/// Waits until this core's connections have ended, or `grace` has passed; says which.
pub async fn drain(grace: Duration) {
    // Connections accepted in the stopping turn start counting when their task first runs.
    coring::task::yield_now().await;
    let waiter = Waiter::new();
    let core = waiter.core.clone();
    let all_done = poll_fn(|cx| {
        if core.connections.get() == 0 {
            return Poll::Ready(());
        }
        core.wait(waiter.id, cx.waker());
        Poll::Pending
    });
    let left = core.connections.get();
    match coring::time::timeout(grace, all_done).await {
        Ok(()) => println!("stopped: {left} connection(s) finished"),
        Err(_) => println!(
            "stopped: {} of {left} connection(s) cut off after the grace period",
            core.connections.get()
        ),
    }
}

/// `wait` (a connection waiting for its next request), unless this core is stopping while
/// the connection is `idle`: then `None` at once, and the connection should close.
///
/// `wait` is pinned by the caller and borrowed here, so the connection's future holds one copy
/// of it (moving it in would hold several: a read with its timeout is large, and a server
/// holds thousands of them).
pub async fn unless_stopped<F: Future>(idle: bool, mut wait: Pin<&mut F>) -> Option<F::Output> {
    let waiter = Waiter::new();
    poll_fn(|cx| {
        if idle && waiter.core.stopping.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(value) = wait.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        if idle {
            waiter.core.wait(waiter.id, cx.waker());
        }
        Poll::Pending
    })
    .await
}
