//! R3 (issue 7): kernel failures that cannot be produced on demand, scripted through the driver's
//! fault seam (`coring::faults`, cargo feature `fault-injection`), against the runtime's
//! invariants: retriable failures are invisible to the ops, data arrives intact and once,
//! buffers are released only after their completion, no fd and no op slot is left behind, and
//! a fatal failure is a clear message, never freed memory the kernel may still write.
//!
//! Run with `cargo test --release --features fault-injection --test
//! faults_scripted_in_the_driver_are_survived` (`ci/test` does).

mod common;

use common::buf::Probe;
use common::{checksum, open_fds, Watchdog, Xorshift};
use coring::buf::{BufRing, FixedBufPool};
use coring::faults::{self, OpKind};
use coring::net::{TcpListener, TcpStream};
use coring::Runtime;
use std::io;
use std::time::Duration;

/// Echoes `rounds` random payloads over loopback and checks every byte; returns the checksum
/// of all bytes received. `script` runs before each round (to script faults mid-stream).
async fn echo_rounds(rounds: usize, mut script: impl FnMut(usize)) -> u64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = coring::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            let (n, b) = stream.read(buf).await;
            let n = n.unwrap();
            if n == 0 {
                return;
            }
            let (written, b) = stream.write_all(b).await;
            written.unwrap();
            buf = b;
        }
    });
    let client = TcpStream::connect(addr).await.unwrap();
    let mut rng = Xorshift::new(0xfa17);
    let mut all = Vec::new();
    for round in 0..rounds {
        script(round);
        let len = 1 + rng.up_to(32 * 1024);
        let payload = rng.bytes(len);
        let (written, _) = client.write_all(payload.clone()).await;
        written.unwrap();
        let mut back = Vec::new();
        while back.len() < payload.len() {
            let (n, b) = client.read(Vec::with_capacity(64 * 1024)).await;
            match n {
                Ok(0) => panic!("end of stream in round {round}"),
                Ok(n) => back.extend_from_slice(&b[..n]),
                Err(err) => panic!("read in round {round}: {err}"),
            }
        }
        assert_eq!(
            back, payload,
            "round {round}: bytes lost, duplicated or reordered"
        );
        all.extend_from_slice(&back);
    }
    drop(client);
    server.await.unwrap();
    checksum(&all)
}

/// The fd count is process-wide: one scenario at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A runtime whose gauges must be back to zero when `body` is done.
fn run<T>(what: &str, body: impl std::future::Future<Output = T>) -> T {
    let _serial = serial();
    let _watchdog = Watchdog::new(60, what);
    faults::clear();
    let fds = open_fds();
    let runtime = Runtime::new().unwrap();
    let out = runtime.block_on(body);
    // Ops dropped at the end of `body` (a multishot stream) wait for their cancel's completion.
    runtime.block_on(async {
        for _ in 0..1000 {
            if runtime.metrics().op_slots_in_use == 0 {
                break;
            }
            coring::time::sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(
        runtime.metrics().op_slots_in_use,
        0,
        "{what}: op slots left"
    );
    assert_eq!(runtime.metrics().ops_in_flight, 0, "{what}: ops in flight");
    drop(runtime);
    assert_eq!(
        faults::pending(),
        faults::Pending::default(),
        "{what}: faults not reached"
    );
    assert_eq!(open_fds(), fds, "{what}: fds left open");
    out
}

fn retried_enter_errors(errno: i32, name: &str) {
    let clean = run("reference echo", echo_rounds(50, |_| {}));
    let faulty = run(name, async {
        let before = faults::pending();
        let sum = echo_rounds(50, |round| faults::fail_next_enters(errno, 1 + round % 4)).await;
        assert_eq!(before, faults::Pending::default());
        sum
    });
    assert_eq!(faulty, clean, "{name}: the echoed stream differs");
}

#[test]
fn enter_failing_with_eagain_is_retried_and_the_echo_is_intact() {
    retried_enter_errors(libc::EAGAIN, "EAGAIN from io_uring_enter");
}

#[test]
fn enter_failing_with_ebusy_is_retried_and_the_echo_is_intact() {
    retried_enter_errors(libc::EBUSY, "EBUSY from io_uring_enter");
}

#[test]
fn enter_failing_with_eintr_is_retried_and_the_echo_is_intact() {
    retried_enter_errors(libc::EINTR, "EINTR from io_uring_enter");
}

/// A fatal `enter` error ends `block_on` with a message naming it; dropping the runtime then
/// still waits for the kernel before freeing the in-flight read's buffer.
#[test]
fn a_fatal_enter_error_panics_clearly_and_frees_no_buffer_early() {
    let _serial = serial();
    let _watchdog = Watchdog::new(60, "fatal enter error");
    faults::clear();
    let probe = Probe::default();
    let runtime = Runtime::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            let buf = probe.buf(Vec::with_capacity(4096));
            let reader = coring::spawn(async move { drop(stream.read(buf).await) });
            coring::task::yield_now().await; // the read is queued
            faults::fail_next_enters(libc::ENXIO, 1);
            reader.await.unwrap(); // never: the ring fails first
        })
    }));
    let message = match outcome {
        Ok(()) => panic!("block_on went on past a fatal io_uring_enter error"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
    };
    assert!(
        message.contains("io_uring_enter failed"),
        "unclear message: {message:?}"
    );
    assert_eq!(
        probe.live(),
        1,
        "the read's buffer is kept while the kernel may write it"
    );
    drop(runtime); // cancels the read, reaps its completion, then frees the buffer
    assert_eq!(probe.live(), 0, "the buffer was not freed at shutdown");
    assert_eq!(probe.dropped(), 1);
}

/// When shutdown gives up on an op (the ring failed while it waited), closes of sockets dropped
/// just before (queued through the ring, not yet submitted) must still go out (the driver's
/// final flush sends them): only the given-up op's own memory and fd are leaked.
#[test]
fn giving_up_at_shutdown_still_sends_the_queued_closes() {
    use std::os::fd::AsRawFd;
    let _serial = serial();
    let _watchdog = Watchdog::new(60, "closes at a failed shutdown");
    faults::clear();
    let probe = Probe::default();
    let runtime = Runtime::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let idle_fd = runtime.block_on(async {
        let reading = TcpStream::connect(addr).await.unwrap();
        let buf = probe.buf(Vec::with_capacity(4096));
        drop(coring::spawn(async move { drop(reading.read(buf).await) }));
        let idle = TcpStream::connect(addr).await.unwrap();
        let fd = idle.as_raw_fd();
        let (_keep, never) = coring::sync::oneshot::channel::<()>();
        drop(coring::spawn(async move {
            let _idle = idle;
            let _ = never.await;
        }));
        coring::task::yield_now().await; // the read is in flight, the idle task parked
        fd
    });
    // Shutdown drops the tasks (queueing the idle socket's close), cancels the read, and its
    // enter fails: the runtime gives up on the read.
    faults::fail_next_enters(libc::ENXIO, 1);
    drop(runtime);
    assert_eq!(
        probe.live(),
        1,
        "the given-up read's buffer must be leaked, not freed"
    );
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    let open = unsafe { libc::fcntl(idle_fd, libc::F_GETFD) } != -1;
    assert!(!open, "the idle socket's close was never submitted");
}

/// A future carried out of `block_on` unawaited.
struct Stray<F>(F);

/// A read future that outlives its runtime (returned out of `block_on` while in flight) whose op
/// the shutdown gave up on: dropping the future later must leak its buffer, since the kernel may
/// still write it, and must not panic; polling it says clearly what happened.
#[test]
fn an_op_given_up_at_shutdown_is_leaked_when_its_future_goes() {
    let _serial = serial();
    let _watchdog = Watchdog::new(60, "op outliving its runtime");
    faults::clear();
    let probe = Probe::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let make_stray_read = |runtime: &Runtime| {
        runtime
            .block_on(async {
                let stream = TcpStream::connect(addr).await.unwrap();
                let buf = probe.buf(Vec::with_capacity(4096));
                let mut read = Box::pin(async move { stream.read(buf).await.0 });
                assert!(
                    common::poll_once(read.as_mut()).await.is_none(),
                    "in flight"
                );
                // Wrapped, so the block's output is plainly a value and not a future to await.
                Stray(read)
            })
            .0
    };

    let runtime = Runtime::new().unwrap();
    let read = make_stray_read(&runtime);
    faults::fail_next_enters(libc::ENXIO, 1);
    drop(runtime); // gives up on the read: the ring failed while shutdown waited for it
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(read)));
    assert!(dropped.is_ok(), "dropping the stray read panicked");
    assert_eq!(probe.live(), 1, "the buffer the kernel may write was freed");

    let runtime = Runtime::new().unwrap();
    let mut read = make_stray_read(&runtime);
    faults::fail_next_enters(libc::ENXIO, 1);
    drop(runtime);
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        coring::block_on(async { common::poll_once(read.as_mut()).await.is_some() })
    }));
    let message = match polled {
        Ok(ready) => panic!("polling the stray read returned (ready: {ready})"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    };
    assert!(
        message.contains("gave up on"),
        "unclear message: {message:?}"
    );
    drop(read);
    assert_eq!(probe.live(), 2, "a buffer the kernel may write was freed");
}

#[test]
fn a_full_submission_queue_is_flushed_and_the_push_retried() {
    let clean = run("reference echo", echo_rounds(30, |_| {}));
    let faulty = run(
        "full SQ",
        echo_rounds(30, |round| faults::fill_next_pushes(round % 5)),
    );
    assert_eq!(faulty, clean);
}

/// A queue that never drains fails the one op that could not be queued, with a clear error; the
/// runtime and the next op carry on.
#[test]
fn a_queue_that_stays_full_fails_the_op_not_the_runtime() {
    run("SQ stays full", async {
        faults::fill_next_pushes(64);
        let err = coring::runtime::nop().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(
            err.to_string().contains("submission queue stayed full"),
            "{err}"
        );
        coring::runtime::nop()
            .await
            .expect("the next op goes through");
    });
}

/// A read the kernel fails with `EINTR` is an `Interrupted` error with the buffer back; the
/// retried read gets the bytes (none were lost to the failed one).
#[test]
fn a_read_failed_with_eintr_returns_interrupted_and_the_retry_gets_the_bytes() {
    run("recv EINTR", async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"intact".to_vec()).await.0.unwrap();
        faults::fail_next_op(OpKind::Recv, libc::EINTR);
        let (result, buf) = server.read(Vec::with_capacity(64)).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Interrupted);
        assert_eq!(buf.capacity(), 64, "the buffer came back");
        let (n, buf) = server.read(buf).await;
        assert_eq!(&buf[..n.unwrap()], b"intact");
    });
}

/// `write_all` retries sends the kernel fails with `EINTR`: the peer gets everything, once.
#[test]
fn write_all_retries_sends_failed_with_eintr() {
    let clean = run("reference echo", echo_rounds(20, |_| {}));
    let faulty = run(
        "send EINTR",
        echo_rounds(20, |round| {
            for _ in 0..(1 + round % 3) {
                faults::fail_next_op(OpKind::Send, libc::EINTR);
            }
        }),
    );
    assert_eq!(faulty, clean);
}

/// Accept failures (`ECONNABORTED`, then `EMFILE`) are errors of one accept each; the listener
/// keeps accepting, through `accept()` and through `incoming()` (whose multishot ends with
/// the error and is re-armed).
#[test]
fn accept_failures_do_not_stop_the_listener() {
    run("accept errors", async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        faults::fail_next_op(OpKind::Accept, libc::ECONNABORTED);
        let err = listener.accept().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNABORTED));
        let _c1 = TcpStream::connect(addr).await.unwrap();
        listener.accept().await.expect("the next accept works");

        faults::fail_next_op(OpKind::AcceptMulti, libc::EMFILE);
        let mut incoming = listener.incoming();
        let err = incoming.next().await.unwrap().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
        let _c2 = TcpStream::connect(addr).await.unwrap();
        incoming
            .next()
            .await
            .unwrap()
            .expect("incoming() re-armed after the back-off");
    });
}

/// A kernel without multishot accept (before 5.19) fails every arming with `EINVAL` at once:
/// `incoming()` must fall back to single accepts, not re-arm in a loop returning errors.
#[test]
fn incoming_falls_back_to_single_accepts_when_multishot_is_refused() {
    run("multishot accept refused", async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..1000 {
            faults::fail_next_op(OpKind::AcceptMulti, libc::EINVAL);
        }
        let mut incoming = listener.incoming();
        for i in 0..3u8 {
            let client = coring::spawn(async move {
                let client = TcpStream::connect(addr).await.unwrap();
                client.write_all(vec![i]).await.0.unwrap();
                client
            });
            let server = incoming
                .next()
                .await
                .unwrap()
                .expect("a connection, not the refusal");
            let (n, buf) = server.read(Vec::with_capacity(1)).await;
            assert_eq!((n.unwrap(), buf), (1, vec![i]));
            drop(client.await.unwrap());
        }
        assert_eq!(
            faults::pending().failed_ops,
            999,
            "incoming() armed multishot again after the kernel refused it"
        );
        faults::clear();
    });
}

/// A multishot receive the kernel ends with `ENOBUFS` is re-armed; the stream loses nothing.
#[test]
fn a_multishot_receive_ended_by_enobufs_rearms_and_loses_nothing() {
    run("recv_stream ENOBUFS", async {
        let ring = BufRing::new(8, 4096).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut rng = Xorshift::new(7);
        let payload = rng.bytes(64 * 1024);
        let writer = {
            let payload = payload.clone();
            coring::spawn(async move {
                client.write_all(payload).await.0.unwrap();
                client
            })
        };
        let mut chunks = server.recv_stream(&ring);
        let mut got = Vec::new();
        let mut round = 0;
        while got.len() < payload.len() {
            if round % 3 == 0 {
                faults::fail_next_op(OpKind::RecvMulti, libc::ENOBUFS);
            }
            round += 1;
            let chunk = coring::time::timeout(Duration::from_secs(5), chunks.next())
                .await
                .expect("the receive was not re-armed")
                .expect("end of stream")
                .unwrap();
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, payload);
        drop(chunks);
        drop(writer.await.unwrap());
        faults::clear(); // an ENOBUFS scripted for a re-arm that never came
    });
}

/// A connect the kernel fails is the error it gave, and its socket is closed.
#[test]
fn a_connect_failed_at_submission_is_an_error_and_leaks_no_fd() {
    run("connect ECONNREFUSED", async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..20 {
            faults::fail_next_op(OpKind::Connect, libc::ECONNREFUSED);
            let err = TcpStream::connect(addr).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        }
        TcpStream::connect(addr)
            .await
            .expect("a real connect still works");
    });
}

/// `ENOMEM` from registration (the locked-memory limit) is a clear `OutOfMemory` error for
/// both kinds of registered memory; the next registration works.
#[test]
fn registration_enomem_is_a_clear_error_and_the_next_one_works() {
    run("registration ENOMEM", async {
        faults::fail_next_registrations(libc::ENOMEM, 2);
        let err = FixedBufPool::new(4, 4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
        assert!(err.to_string().contains("RLIMIT_MEMLOCK"), "{err}");
        let err = BufRing::new(4, 4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{err}");
        let pool = FixedBufPool::new(4, 4096).expect("registering again works");
        let ring = BufRing::new(4, 4096).expect("a buffer ring again works");
        drop((pool, ring));
    });
}
