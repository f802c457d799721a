//! R3 (docs/HAZARDS.md, issue 7), the faults reachable without a seam in the driver: each a
//! named test, each bounded by a watchdog.
//!
//! * a submission queue of 2 entries under 10,000 mixed operations;
//! * `ECONNRESET` and `EPIPE` in the middle of reads and writes;
//! * panics in a task's `poll`, in its `Drop` (after completing, when aborted, at shutdown), in
//!   the `Drop` of a buffer the runtime frees after an abandoned op's last completion, and inside
//!   a waker's `wake` called by the runtime loop — the runtime reports them (panic message on
//!   stderr, a `JoinError`) and goes on;
//! * a foreign thread waking tasks after their runtime is gone;
//! * a runtime dropped with 1,000 operations in flight, multishot accepts (`incoming()`),
//!   multishot receives on a buffer ring (`recv_stream`) and zero-copy sends among them: every
//!   buffer is freed only at the drop, none is leaked, and no fd stays open;
//! * `EMFILE` (a child process with `RLIMIT_NOFILE` 64 and a full fd table): setting up a
//!   runtime, connecting and accepting fail with errors, not panics, and all work again once
//!   descriptors are free.
//!
//! Not reachable without a seam in the driver (see tests/README.md): `io_uring_enter` failing
//! with `EAGAIN`/`EBUSY`/`EINTR` on demand, short submissions, `ENOMEM` on registration as root.
//!
//! The tests count fds and threads of the process, so they run one at a time.

mod common;

use common::buf::{Probe, ProbeBuf};
use common::process::{is_child, run_child};
use common::{lower_fd_limit, open_fds, Watchdog};
use coring::buf::BufRing;
use coring::net::{TcpListener, TcpStream};
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connected pair on loopback.
async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[test]
fn sq_of_two_entries_carries_ten_thousand_mixed_ops() {
    if common::skip::io_uring_only("sq_of_two_entries_carries_ten_thousand_mixed_ops") {
        return;
    }
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(60, "sq_of_two_entries_carries_ten_thousand_mixed_ops");
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let ops = Rc::new(Cell::new(0u64));
    runtime.block_on(async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let mut tasks = Vec::new();
        // 5,000 no-ops around 2,500 sleeps.
        for i in 0..2_500u64 {
            let ops = ops.clone();
            tasks.push(coring::spawn(async move {
                coring::runtime::nop().await.unwrap();
                sleep(Duration::from_micros(i % 2_000)).await;
                coring::runtime::nop().await.unwrap();
                ops.set(ops.get() + 3);
            }));
        }
        // 50 connections, each 40 writes and reads, and 20 reads cut short by a timeout.
        for conn in 0..50u8 {
            let (ops, listener) = (ops.clone(), listener.clone());
            tasks.push(coring::spawn(async move {
                let (client, server) = pair(&listener).await;
                for _ in 0..20 {
                    let read = client.read(Vec::with_capacity(8));
                    assert!(timeout(Duration::from_micros(200), read).await.is_err());
                }
                for round in 0..40u8 {
                    let message = vec![conn, round, 7, 7];
                    client.write_all(message.clone()).await.0.unwrap();
                    let (n, buf) = server.read(Vec::with_capacity(4)).await;
                    assert_eq!(&buf[..n.unwrap()], &message[..]);
                }
                ops.set(ops.get() + 2 + 20 + 80);
            }));
        }
        for task in tasks {
            task.await.expect("a task of the mix failed");
        }
        assert_eq!(runtime.metrics().ops_in_flight, 0);
    });
    let stats = runtime.metrics();
    println!(
        "{} ops through a 2-entry SQ: {} entries pushed, {} enters, CQ dropped {}",
        ops.get(),
        stats.sqes_submitted,
        stats.enters,
        stats.cq_overflow
    );
    assert!(
        stats.sqes_submitted >= 10_000,
        "only {} entries went through",
        stats.sqes_submitted
    );
    assert_eq!(stats.cq_overflow, 0);
}

#[test]
fn connection_reset_and_broken_pipe_mid_op_are_errors() {
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(30, "connection_reset_and_broken_pipe_mid_op_are_errors");
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();

        // A read in flight when the peer resets.
        let (client, server) = pair(&listener).await;
        let read = coring::spawn(async move { server.read(Vec::with_capacity(64)).await.0 });
        sleep(Duration::from_millis(20)).await;
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let err = read.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

        // A large write in flight (the peer reads nothing, so it blocks) when the peer resets.
        let (client, server) = pair(&listener).await;
        let write = coring::spawn(async move { client.write_all(vec![1u8; 32 << 20]).await.0 });
        sleep(Duration::from_millis(50)).await;
        assert!(
            !write.is_finished(),
            "32 MiB should not fit the socket buffers"
        );
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);
        let err = write.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err}"
        );

        // Writes to a peer that closed: EPIPE (as an error, never SIGPIPE) once the reset is in.
        let (client, server) = pair(&listener).await;
        drop(server);
        let mut last = Ok(());
        for _ in 0..100 {
            last = client.write_all(vec![2u8; 4096]).await.0;
            if last.is_err() {
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
        let err = last.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    });
}

/// Panics when dropped (unless already unwinding).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A task that keeps doing I/O; the runtime must keep serving it around the panics.
fn ticker(ticks: Rc<Cell<u32>>) -> coring::task::JoinHandle<()> {
    coring::spawn(async move {
        loop {
            coring::runtime::nop().await.unwrap();
            sleep(Duration::from_millis(1)).await;
            ticks.set(ticks.get() + 1);
        }
    })
}

#[test]
fn a_panic_in_a_tasks_poll_is_reported_and_the_runtime_goes_on() {
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(30, "a_panic_in_a_tasks_poll");
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        let ticks = Rc::new(Cell::new(0));
        let ticking = ticker(ticks.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, _server) = pair(&listener).await;
        let client = Rc::new(client);
        let reader = client.clone();
        // Panics with a read (and its buffer) in flight, from the same task.
        let panicking = coring::spawn(async move {
            let mut read = Box::pin(reader.read(Vec::with_capacity(64)));
            poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx).is_pending())).await;
            panic!("a task panics with a read in flight");
        });
        assert!(panicking.await.unwrap_err().is_panic());
        let before = ticks.get();
        sleep(Duration::from_millis(30)).await;
        assert!(ticks.get() > before, "the other task stopped");
        // The read abandoned by the panic was cancelled: at most the ticker's op is left.
        sleep(Duration::from_millis(5)).await;
        assert!(
            runtime.metrics().ops_in_flight <= 1,
            "the abandoned read is still in flight"
        );
        ticking.abort();
    });
}

#[test]
fn a_panic_in_a_tasks_drop_is_reported_and_the_runtime_goes_on() {
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(30, "a_panic_in_a_tasks_drop");
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        let ticks = Rc::new(Cell::new(0));
        let ticking = ticker(ticks.clone());
        // Dropped when the task completes.
        let completes = coring::spawn(async {
            let _guard = PanicOnDrop("drop panics after completing");
            coring::runtime::nop().await.unwrap();
        });
        assert!(completes.await.unwrap_err().is_panic());
        // Dropped when aborted while sleeping.
        let aborted = coring::spawn(async {
            let _guard = PanicOnDrop("drop panics when aborted");
            sleep(Duration::from_secs(60)).await;
        });
        sleep(Duration::from_millis(2)).await;
        aborted.abort();
        let err = aborted.await.unwrap_err();
        assert!(err.is_cancelled() || err.is_panic(), "{err:?}");
        let before = ticks.get();
        sleep(Duration::from_millis(30)).await;
        assert!(ticks.get() > before, "the other task stopped");
        ticking.abort();
        // Dropped at shutdown, with an op in flight.
        drop(coring::spawn(async {
            let _guard = PanicOnDrop("drop panics at shutdown");
            sleep(Duration::from_secs(60)).await;
        }));
        coring::task::yield_now().await;
    });
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(runtime)));
    assert!(dropped.is_ok(), "dropping the runtime panicked");
    // The thread can run a new runtime.
    coring::block_on(async { coring::runtime::nop().await.unwrap() });
}

#[test]
fn a_panic_in_a_buffers_drop_after_an_abandoned_op_does_not_stop_the_runtime() {
    if common::skip::io_uring_only(
        "a_panic_in_a_buffers_drop_after_an_abandoned_op_does_not_stop_the_runtime",
    ) {
        return;
    }
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(30, "a_panic_in_a_buffers_drop");
    let runtime = Runtime::new().unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let (client, _server) = pair(&listener).await;
            // Abandoned in flight: the driver keeps the buffer until the cancel completes, then
            // the runtime loop drops it.
            let read = client.read(ProbeBuf::panicking(Vec::with_capacity(64)));
            assert!(timeout(Duration::from_millis(5), read).await.is_err());
            for _ in 0..10 {
                coring::runtime::nop().await.unwrap();
            }
            "the loop went on"
        })
    }));
    let survived = outcome.is_ok();
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(runtime)));
    assert!(dropped.is_ok(), "dropping the runtime panicked");
    assert!(
        survived,
        "a panic in the Drop of a buffer the runtime frees came out of block_on: the runtime \
         loop does not contain panics from user Drop impls it runs (Turn::graveyard)"
    );
}

/// Forwards to the task's waker, then panics: user code inside `wake` that the runtime calls.
struct PanicOnWake {
    inner: Waker,
    armed: AtomicBool,
}

impl Wake for PanicOnWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.inner.wake_by_ref();
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("a waker panics in wake");
        }
    }
}

/// Polls the inner future with a [`PanicOnWake`] around the task's waker.
struct WithPanickyWaker<F: ?Sized>(Pin<Box<F>>);

impl<F: Future + ?Sized> Future for WithPanickyWaker<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(PanicOnWake {
            inner: cx.waker().clone(),
            armed: AtomicBool::new(true),
        }));
        self.0.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[test]
fn a_panic_inside_a_wakers_wake_does_not_stop_the_runtime() {
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(30, "a_panic_inside_a_wakers_wake");
    let mut failures = Vec::new();
    type Woken = fn() -> Pin<Box<dyn Future<Output = ()>>>;
    let cases: [(&str, Woken); 2] = [
        ("an op's completion", || {
            Box::pin(async { coring::runtime::nop().await.unwrap() })
        }),
        ("a timer", || Box::pin(sleep(Duration::from_millis(2)))),
    ];
    for (what, fut) in cases {
        let runtime = Runtime::new().unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async {
                let task = coring::spawn(WithPanickyWaker(fut()));
                let joined = timeout(Duration::from_secs(5), task).await;
                assert!(joined.is_ok(), "the task was never woken");
                coring::runtime::nop().await.unwrap();
            })
        }));
        if outcome.is_err() {
            failures.push(what);
        }
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(runtime)));
        assert!(dropped.is_ok(), "dropping the runtime panicked");
    }
    assert!(
        failures.is_empty(),
        "a panic in a waker woken by {failures:?} came out of block_on: the runtime loop \
         (Turn::wake_all) does not contain it, and the wakers after it in the batch are lost"
    );
}

#[test]
fn a_foreign_thread_waking_after_the_runtime_is_gone_does_not_crash() {
    let _serial = one_at_a_time();
    let _watchdog = Watchdog::new(30, "a_foreign_thread_waking_after_the_runtime_is_gone");
    let kept: Arc<Mutex<Vec<Waker>>> = Arc::default();
    for _ in 0..20 {
        let runtime = Runtime::new().unwrap();
        let wakers = kept.clone();
        runtime.block_on(async {
            // A task's waker and the block_on future's waker.
            let store = wakers.clone();
            drop(coring::spawn(poll_fn(move |cx| {
                store.lock().unwrap().push(cx.waker().clone());
                Poll::<()>::Pending
            })));
            coring::task::yield_now().await;
            poll_fn(|cx| {
                wakers.lock().unwrap().push(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
        });
        // Wakes race the drop, from a plain thread and from a thread running its own runtime
        // (which tries MSG_RING to the dead ring's fd number).
        let racing = {
            let wakers = kept.clone();
            std::thread::spawn(move || {
                for waker in wakers.lock().unwrap().iter() {
                    waker.wake_by_ref();
                }
            })
        };
        drop(runtime);
        racing.join().unwrap();
    }
    let wakers = std::mem::take(&mut *kept.lock().unwrap());
    let (plain, with_runtime): (Vec<_>, Vec<_>) = wakers
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    std::thread::spawn(move || {
        for (_, waker) in plain {
            waker.wake_by_ref();
            waker.wake();
        }
    })
    .join()
    .expect("waking from a plain thread crashed");
    std::thread::spawn(move || {
        coring::block_on(async move {
            for (_, waker) in with_runtime {
                waker.wake_by_ref();
                waker.wake();
            }
            coring::runtime::nop().await.unwrap();
        })
    })
    .join()
    .expect("waking from a thread with a runtime crashed");
}

#[test]
fn a_runtime_dropped_with_a_thousand_ops_in_flight_frees_every_buffer_after_the_kernel() {
    if common::skip::io_uring_only(
        "a_runtime_dropped_with_a_thousand_ops_in_flight_frees_every_buffer_after_the_kernel",
    ) {
        return;
    }
    let _serial = one_at_a_time();
    let watchdog = Watchdog::new(60, "a_runtime_dropped_with_a_thousand_ops_in_flight");
    let fds_before = open_fds();
    let probe = Probe::default();
    let runtime = Runtime::new().unwrap();
    let in_flight = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut streams = Vec::new();
        for _ in 0..20 {
            let (client, server) = pair(&listener).await;
            streams.push((Rc::new(client), Rc::new(server)));
        }
        let ring = BufRing::new(64, 4096).unwrap();
        for (client, server) in &streams {
            // Reads with nothing coming: 45 per connection.
            for _ in 0..45 {
                let (client, buf) = (client.clone(), probe.buf(Vec::with_capacity(256)));
                drop(coring::spawn(async move { drop(client.read(buf).await) }));
            }
            // A multishot receive through the buffer ring, nothing coming.
            let (server, ring) = (server.clone(), ring.clone());
            drop(coring::spawn(async move {
                drop(server.recv_stream(&ring).next().await);
            }));
        }
        // Zero-copy sends of 1 MiB to peers that do not read: 4 on each of 10 connections.
        for _ in 0..10 {
            let (sender, receiver) = pair(&listener).await;
            let sender = Rc::new(sender);
            for _ in 0..4 {
                let (sender, buf) = (sender.clone(), probe.buf(vec![9u8; 1 << 20]));
                drop(coring::spawn(
                    async move { drop(sender.send_zc(buf).await) },
                ));
            }
            streams.push((sender, Rc::new(receiver)));
        }
        // Multishot accepts with nobody connecting, and sleeps.
        for _ in 0..100 {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            drop(coring::spawn(async move {
                drop(listener.incoming().next().await);
            }));
        }
        for _ in 0..200 {
            drop(coring::spawn(sleep(Duration::from_secs(60))));
        }
        for _ in 0..50 {
            coring::task::yield_now().await;
        }
        coring::runtime::nop().await.unwrap();
        drop(streams);
        runtime.metrics().ops_in_flight
    });
    let buffers = probe.live();
    watchdog.note(&format!(
        "dropping a runtime with {in_flight} ops in flight"
    ));
    let started = Instant::now();
    drop(runtime);
    let took = started.elapsed();
    let fd_delta = open_fds() as i64 - fds_before as i64;
    println!(
        "dropped a runtime with {in_flight} ops in flight ({buffers} tracked buffers) in \
         {took:?}; buffers left {}, fd delta {fd_delta}",
        probe.live()
    );
    assert!(in_flight >= 1_000, "only {in_flight} ops were in flight");
    assert!(buffers >= 900, "tracked buffers were freed before the drop");
    assert_eq!(probe.live(), 0, "buffers leaked by the drop");
    assert!(took < Duration::from_secs(5), "the drop took {took:?}");
    assert_eq!(fd_delta, 0, "fds left open");
}

const EMFILE_CHILD: &str = "CORING_FAULTS_EMFILE_CHILD";

#[test]
fn emfile_is_an_error_everywhere_and_everything_recovers() {
    if is_child(EMFILE_CHILD) {
        return emfile_child();
    }
    let _serial = one_at_a_time();
    let run = run_child(
        "emfile_is_an_error_everywhere_and_everything_recovers",
        &[(EMFILE_CHILD, "1")],
        Duration::from_secs(60),
    );
    println!("{}", run.report());
    assert!(!run.timed_out, "the child hung");
    assert!(run.status.success(), "the child failed: {}", run.status);
    assert!(run.stdout.contains("EMFILE CHILD OK"));
}

fn is_emfile(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(libc::EMFILE)
}

fn emfile_child() {
    lower_fd_limit(64);
    let _watchdog = Watchdog::new(50, "emfile child");
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let waiting = std::net::TcpStream::connect(addr).unwrap();
        let mut hog = Vec::new();
        while let Ok(file) = std::fs::File::open("/dev/null") {
            hog.push(file);
        }
        // A second runtime, a connect, accepts both ways: errors, not panics.
        let err = Runtime::new().expect_err("a runtime without fds");
        println!("Runtime::new: {err}");
        let err = TcpStream::connect(addr)
            .await
            .expect_err("a connect without fds");
        assert!(is_emfile(&err), "{err}");
        let err = listener.accept().await.expect_err("an accept without fds");
        assert!(is_emfile(&err), "{err}");
        let mut incoming = listener.incoming();
        let err = incoming
            .next()
            .await
            .unwrap()
            .expect_err("incoming without fds");
        assert!(is_emfile(&err), "{err}");

        hog.truncate(hog.len() - 8);
        let accepted = timeout(Duration::from_secs(5), incoming.next())
            .await
            .expect("incoming did not recover")
            .unwrap()
            .expect("accept after fds freed up");
        let (n, buf) = {
            use std::io::Write;
            (&waiting).write_all(b"ok").unwrap();
            accepted.read(Vec::with_capacity(8)).await
        };
        assert_eq!(&buf[..n.unwrap()], b"ok");
        let client = TcpStream::connect(addr)
            .await
            .expect("connect after fds freed up");
        drop((client, hog));
        let other = Runtime::new().expect("a runtime after fds freed up");
        drop(other);
    });
    println!("EMFILE CHILD OK");
}
