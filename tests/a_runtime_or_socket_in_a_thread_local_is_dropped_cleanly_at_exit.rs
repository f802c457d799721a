//! A runtime (with a read in flight and a task asleep) or a socket kept in a `thread_local!` is
//! dropped when its thread exits, after coring's own thread-locals may already be gone; and the
//! thread-locals of the thread that calls `exit` are dropped at process exit. Neither may abort
//! the process ("thread local panicked on drop"): the runtime shuts down without a current
//! runtime, and the peer of each socket sees it closed.
//!
//! Each scenario runs in a child process, since the failure is an abort.

mod common;

use common::process::{expect_child_prints, is_child};
use coring::net::TcpStream;
use coring::Runtime;
use std::cell::RefCell;
use std::future::Future;
use std::io::Read;
use std::time::Duration;

const CHILD: &str = "CORING_TLS_EXIT_CHILD";

/// Runs test `name` in a child process and checks it got to its end and exited cleanly.
fn in_child(name: &str) {
    expect_child_prints(name, &[(CHILD, "1")], "survived");
}

/// A loopback peer for one connection, and a check that it is closed (EOF, or a reset) within a
/// few seconds.
struct Peer(std::net::TcpListener);

impl Peer {
    fn new() -> Peer {
        Peer(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.0.local_addr().unwrap()
    }

    fn expect_closed(&self) {
        let (mut stream, _) = self.0.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(0) => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("the socket was not closed: {other:?}"),
        }
    }
}

/// Leaves a read in flight on `runtime`, and a task asleep if `asleep`.
fn start_work(runtime: &Runtime, peer: &Peer, asleep: bool) {
    let stream = runtime.block_on(TcpStream::connect(peer.addr())).unwrap();
    runtime.spawn(async move {
        let _ = stream.read(Vec::with_capacity(64)).await;
    });
    if asleep {
        runtime.spawn(coring::time::sleep(Duration::from_secs(3600)));
    }
    runtime.block_on(coring::task::yield_now());
    // On epoll a waiting read is not in the kernel: nothing is in flight.
    let in_flight = usize::from(runtime.backend() == coring::Backend::IoUring);
    assert_eq!(runtime.metrics().ops_in_flight, in_flight);
}

#[test]
fn a_runtime_made_by_a_thread_local_initializer_is_dropped_at_thread_exit() {
    if !is_child(CHILD) {
        return in_child("a_runtime_made_by_a_thread_local_initializer_is_dropped_at_thread_exit");
    }
    thread_local! {
        static RUNTIME: Runtime = Runtime::new().unwrap();
    }
    let peer = Peer::new();
    std::thread::scope(|scope| {
        scope.spawn(|| RUNTIME.with(|runtime| start_work(runtime, &peer, true)));
    });
    peer.expect_closed();
    println!("survived");
}

#[test]
fn a_runtime_put_into_a_thread_local_later_is_dropped_at_thread_exit() {
    if !is_child(CHILD) {
        return in_child("a_runtime_put_into_a_thread_local_later_is_dropped_at_thread_exit");
    }
    thread_local! {
        // Registered before any of coring's own thread-locals on this thread, so destroyed after
        // them.
        static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    }
    let peer = Peer::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            RUNTIME.with(|slot| {
                let mut slot = slot.borrow_mut();
                start_work(slot.insert(Runtime::new().unwrap()), &peer, false);
            })
        });
    });
    peer.expect_closed();
    println!("survived");
}

#[test]
fn a_runtime_with_sleeping_tasks_put_into_a_thread_local_later_is_dropped_at_thread_exit() {
    if !is_child(CHILD) {
        return in_child(
            "a_runtime_with_sleeping_tasks_put_into_a_thread_local_later_is_dropped_at_thread_exit",
        );
    }
    thread_local! {
        // Destroyed after coring's own thread-locals: the sleeps' drops find no timer slot.
        static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    }
    let peer = Peer::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            RUNTIME.with(|slot| {
                let mut slot = slot.borrow_mut();
                let runtime = slot.insert(Runtime::new().unwrap());
                start_work(runtime, &peer, true);
                // Two sleeps pending in one task: a second panic while unwinding would abort.
                runtime.spawn(async {
                    let long = coring::time::sleep(Duration::from_secs(3600));
                    let longer = coring::time::sleep(Duration::from_secs(7200));
                    futures_join(long, longer).await;
                });
                runtime.block_on(coring::task::yield_now());
            })
        });
    });
    peer.expect_closed();
    println!("survived");
}

/// Polls both futures until both are ready (a two-way join without another dependency).
async fn futures_join(a: coring::time::Sleep, b: coring::time::Sleep) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut a_done, mut b_done) = (false, false);
    std::future::poll_fn(|cx| {
        use std::task::Poll;
        a_done = a_done || a.as_mut().poll(cx).is_ready();
        b_done = b_done || b.as_mut().poll(cx).is_ready();
        if a_done && b_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

#[test]
fn a_socket_in_a_thread_local_is_closed_at_thread_exit() {
    if !is_child(CHILD) {
        return in_child("a_socket_in_a_thread_local_is_closed_at_thread_exit");
    }
    thread_local! {
        static KEPT: RefCell<Option<TcpStream>> = const { RefCell::new(None) };
    }
    let peer = Peer::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            KEPT.with(|_| {});
            let runtime = Runtime::new().unwrap();
            let stream = runtime.block_on(TcpStream::connect(peer.addr())).unwrap();
            KEPT.with(|kept| *kept.borrow_mut() = Some(stream));
            drop(runtime);
        });
    });
    peer.expect_closed();
    println!("survived");
}

#[test]
fn a_runtime_in_a_thread_local_of_the_thread_calling_exit_is_dropped_at_process_exit() {
    if !is_child(CHILD) {
        return in_child(
            "a_runtime_in_a_thread_local_of_the_thread_calling_exit_is_dropped_at_process_exit",
        );
    }
    thread_local! {
        static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
        static MADE: Runtime = Runtime::new().unwrap();
    }
    let peer = Peer::new();
    RUNTIME.with(|slot| {
        let mut slot = slot.borrow_mut();
        start_work(slot.insert(Runtime::new().unwrap()), &peer, false);
    });
    MADE.with(|runtime| start_work(runtime, &peer, true));
    println!("survived");
    // `exit` runs the calling thread's thread-local destructors: an abort there turns this
    // clean exit into a SIGABRT the parent sees.
    std::process::exit(0);
}
