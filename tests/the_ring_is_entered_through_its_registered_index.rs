//! The runtime registers its ring fd with its thread (`IORING_REGISTER_RING_FDS`) and every
//! `io_uring_enter` it makes names the ring by that index, sparing the kernel the fd lookup.
//!
//! Shown without tracing: the ring's plain fd number is pointed at `/dev/null` while the runtime
//! submits, waits for a timer and moves bytes over a socket. An enter by the plain fd would fail
//! (`EOPNOTSUPP`: not an io_uring); an enter by the registered index does not look at the fd
//! table at all.
//!
//! Runs in a child process of the test binary: it must be the only ring in its process (it is
//! found in `/proc/self/fd`), and nothing else may use the fd number while it is borrowed.

mod common;

use common::process::{expect_child_prints, is_child};
use coring::net::{TcpListener, TcpStream};
use coring::Runtime;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

const CHILD: &str = "CORING_RING_FD_CHILD";

/// The one io_uring fd of this process.
fn the_ring_fd() -> RawFd {
    let rings: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            (target.to_str()? == "anon_inode:[io_uring]")
                .then(|| entry.file_name().to_str()?.parse().ok())?
        })
        .collect();
    assert_eq!(rings.len(), 1, "one ring in this process: {rings:?}");
    rings[0]
}

/// Sleeps, then echoes 4 KiB over a socket on 127.0.0.1: submissions, timed waits and waits
/// for completions, all through `io_uring_enter`.
async fn some_io() -> std::io::Result<Vec<u8>> {
    coring::time::sleep(Duration::from_millis(2)).await;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = coring::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let (n, buf) = stream.read(Vec::with_capacity(8192)).await;
        let n = n?;
        let (written, _) = stream.write_all(buf).await;
        written.map(|()| n)
    });
    let client = TcpStream::connect(addr).await?;
    let (written, _) = client.write_all(vec![7u8; 4096]).await;
    written?;
    let mut got = Vec::new();
    while got.len() < 4096 {
        let (n, buf) = client.read(Vec::with_capacity(8192)).await;
        if n? == 0 {
            break;
        }
        got.extend_from_slice(&buf);
    }
    server.await.expect("the echo task")?;
    Ok(got)
}

#[test]
fn the_ring_is_entered_through_its_registered_index() {
    if common::skip::io_uring_only("the_ring_is_entered_through_its_registered_index") {
        return;
    }
    if !is_child(CHILD) {
        return expect_child_prints(
            "the_ring_is_entered_through_its_registered_index",
            &[(CHILD, "1")],
            "entered by index",
        );
    }
    let _watchdog = common::Watchdog::new(30, "the_ring_is_entered_through_its_registered_index");
    let runtime = Runtime::new().unwrap();
    assert!(
        runtime.metrics().ring_fd_registered,
        "a 6.18 kernel registers the ring fd"
    );
    let ring = the_ring_fd();
    // SAFETY: plain fd calls on fds this test owns (the ring's number is given back below,
    // before the runtime uses or closes it outside this window).
    let (saved, null) = unsafe {
        let saved = libc::dup(ring);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        assert!(saved >= 0 && null >= 0);
        assert_eq!(libc::dup2(null, ring), ring);
        (saved, null)
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| runtime.block_on(some_io())));
    // SAFETY: as above: the ring's own file goes back under its number.
    unsafe {
        assert_eq!(libc::dup2(saved, ring), ring);
        libc::close(saved);
        libc::close(null);
    }
    match outcome {
        Ok(Ok(got)) => assert_eq!(got, vec![7u8; 4096]),
        Ok(Err(err)) => panic!("the I/O failed with the plain fd elsewhere: {err}"),
        Err(_) => panic!("the runtime entered the ring by its plain fd (now /dev/null)"),
    }
    drop(runtime);
    println!("entered by index");
}
