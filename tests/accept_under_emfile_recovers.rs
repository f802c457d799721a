//! Out of file descriptors, `accept` fails with `EMFILE` as an error — without spinning on the
//! connection still waiting in the backlog (docs/HAZARDS.md H15) — and accepts it once fds free up.
//!
//! The scenario runs in a child process (this test binary, re-executed with `CORING_EMFILE_CHILD`
//! set), because it lowers `RLIMIT_NOFILE` and fills the fd table, which must never affect the
//! parent test process.

mod common;

use common::process::{is_child, run_child};
use common::{cpu_time, lower_fd_limit};
use coring::net::TcpListener;
use coring::time::timeout;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "CORING_EMFILE_CHILD";
/// Printed by the child when every assertion passed (libtest exits 0 when no test matched).
const CHILD_OK: &str = "CORING_EMFILE_CHILD_OK";
const CHILD_DEADLINE: Duration = Duration::from_secs(60);
const FD_LIMIT: u64 = 64;

#[test]
fn accept_under_emfile_recovers() {
    if is_child(CHILD_ENV) {
        child();
        println!("{CHILD_OK}");
        return;
    }
    let run = run_child(
        "accept_under_emfile_recovers",
        &[(CHILD_ENV, "1")],
        CHILD_DEADLINE,
    );
    assert!(
        !run.timed_out,
        "the child did not finish within {CHILD_DEADLINE:?}"
    );
    let (out, err) = (run.stdout, run.stderr);
    eprintln!("child stdout:\n{out}\nchild stderr:\n{err}");
    let status = run.status;
    assert!(status.success(), "the child failed: {status}");
    assert!(out.contains(CHILD_OK), "the child did not run the scenario");
}

fn child() {
    lower_fd_limit(FD_LIMIT);
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Queued in the backlog before the fds run out.
        let mut client = std::net::TcpStream::connect(addr).unwrap();

        let mut hog = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(file) => hog.push(file),
                Err(err) if err.raw_os_error() == Some(libc::EMFILE) => break,
                Err(err) => panic!("unexpected error filling the fd table: {err}"),
            }
        }
        println!("filled the fd table with {} more files", hog.len());

        // Accepting now fails, as an error, every time; a loop retrying at once must not spin.
        let cpu_before = cpu_time();
        let window = Instant::now();
        let mut attempts = 0;
        while window.elapsed() < Duration::from_millis(500) {
            let result = timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("an accept without fds must fail, not hang");
            let err = result.expect_err("no fd is free, yet accept succeeded");
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
            attempts += 1;
        }
        let cpu = cpu_time() - cpu_before;
        println!("{attempts} failed accepts in 500 ms, {cpu:?} of CPU");
        assert!(attempts >= 2, "accept was tried only {attempts} times");
        assert!(
            attempts <= 20,
            "{attempts} accepts in 500 ms: the loop spins"
        );
        assert!(cpu < Duration::from_millis(250), "{cpu:?} of CPU in 500 ms");

        // Free some fds: the waiting connection is accepted (after at most the back-off).
        hog.truncate(hog.len().saturating_sub(8));
        let (stream, peer) = timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("accept did not recover")
            .expect("accept still fails with fds free");
        assert_eq!(peer, client.local_addr().unwrap());

        // And the connection works.
        client.write_all(b"hello").unwrap();
        let (n, buf) = stream.read(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"hello");
        stream.write_all(b"back".to_vec()).await.0.unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"back");

        // A new connection after recovery is accepted at once.
        let _second = std::net::TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("second accept hung")
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "the back-off was not reset"
        );
    });
}
