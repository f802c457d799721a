//! Out of file descriptors, `accept` fails with `EMFILE` as an error — without spinning on the
//! connection still waiting in the backlog (reliability.md H15) — and accepts it once fds free up.
//!
//! The scenario runs in a child process (this test binary, re-executed with `CORING_EMFILE_CHILD`
//! set), because it lowers `RLIMIT_NOFILE` and fills the fd table, which must never affect the
//! parent test process.

use coring::net::TcpListener;
use coring::time::timeout;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "CORING_EMFILE_CHILD";
/// Printed by the child when every assertion passed (libtest exits 0 when no test matched).
const CHILD_OK: &str = "CORING_EMFILE_CHILD_OK";
const CHILD_DEADLINE: Duration = Duration::from_secs(60);
const FD_LIMIT: libc::rlim_t = 64;

#[test]
fn accept_under_emfile_recovers() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        println!("{CHILD_OK}");
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "accept_under_emfile_recovers",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_DEADLINE {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("the child did not finish within {CHILD_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.unwrap().read_to_string(&mut out).unwrap();
    child.stderr.unwrap().read_to_string(&mut err).unwrap();
    eprintln!("child stdout:\n{out}\nchild stderr:\n{err}");
    assert!(status.success(), "the child failed: {status}");
    assert!(out.contains(CHILD_OK), "the child did not run the scenario");
}

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn lower_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = FD_LIMIT.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

fn child() {
    lower_fd_limit();
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
