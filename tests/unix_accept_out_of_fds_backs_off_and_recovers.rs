//! `UnixListener::accept` out of file descriptors fails with `EMFILE`, as `TcpListener::accept`
//! does, and, as it does, waits a little before the next attempt instead of letting a loop
//! that retries at once spin on the connection still waiting in the backlog; it accepts the
//! connection once fds free up.
//!
//! The scenario runs in a child process, because it lowers `RLIMIT_NOFILE` and fills the fd
//! table, which must never affect the parent test process.

mod common;

use common::process::{is_child, run_child};
use common::unix::abstract_name;
use common::{cpu_time, lower_fd_limit};
use coring::net::{UnixListener, UnixStream};
use coring::time::timeout;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "CORING_UNIX_EMFILE_CHILD";
const CHILD_OK: &str = "CORING_UNIX_EMFILE_CHILD_OK";
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn unix_accept_out_of_fds_backs_off_and_recovers() {
    if is_child(CHILD_ENV) {
        child();
        println!("{CHILD_OK}");
        return;
    }
    let run = run_child(
        "unix_accept_out_of_fds_backs_off_and_recovers",
        &[(CHILD_ENV, "1")],
        CHILD_DEADLINE,
    );
    assert!(!run.timed_out, "the child did not finish in time");
    eprintln!(
        "child stdout:\n{}\nchild stderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(run.status.success(), "the child failed: {}", run.status);
    assert!(run.stdout.contains(CHILD_OK), "the child did not run");
}

fn child() {
    lower_fd_limit(64);
    coring::block_on(async {
        let name = abstract_name("emfile");
        let listener = UnixListener::bind(&name).unwrap();
        // Queued in the backlog before the fds run out.
        let _client = UnixStream::connect(&name).await.unwrap();
        let mut hog = Vec::new();
        while let Ok(file) = std::fs::File::open("/dev/null") {
            hog.push(file);
        }

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

        hog.truncate(hog.len().saturating_sub(8));
        timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("accept did not recover")
            .expect("accept still fails with fds free");
    });
}
