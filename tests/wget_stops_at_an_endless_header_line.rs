//! A server that answers with a header line that never ends (no newline, ever) cannot make the
//! `wget` example buffer without bound: it stops at the 8 KiB line limit, prints one error line
//! naming the limit, and exits non-zero at once, having used little memory and having taken
//! only what the socket buffers hold.

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

/// How much the endless server would send to a client that never stops reading.
const ENDLESS: u64 = 1 << 30;

#[test]
fn an_endless_header_line_is_an_error_at_the_limit_with_bounded_memory() {
    let _watchdog = Watchdog::new(300, "wget against an endless header line");
    let wget = build_example("wget");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (sent_tx, sent_rx) = channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0; 1024];
        let _ = stream.read(&mut request);
        let mut sent = 0u64;
        if stream.write_all(b"HTTP/1.0 200 OK\r\nX-Endless: ").is_ok() {
            let chunk = vec![b'a'; 64 * 1024];
            while sent < ENDLESS && stream.write_all(&chunk).is_ok() {
                sent += chunk.len() as u64;
            }
        }
        sent_tx.send(sent).unwrap();
    });

    let start = Instant::now();
    // Reaped by `wait_with_rusage` (wait4), which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(&wget)
        .args([&host, "--timeout", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run the wget example");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let (status, max_rss_kib) = wait_with_rusage(child.id());
    let took = start.elapsed();
    let sent = sent_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server stopped");
    eprintln!("{stdout}exit {status:#x} after {took:?}; max RSS {max_rss_kib} KiB; server sent {sent} bytes");

    let errors: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{host} error > ")))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stdout}");
    assert!(
        errors[0].contains("8192"),
        "the error names the line limit: {}",
        errors[0]
    );
    assert!(
        !stdout.contains(" header > "),
        "no header is printed for a failed host"
    );
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1,
        "exit status 1: {status:#x}"
    );
    assert!(
        took < Duration::from_secs(5),
        "it stopped at the limit, not at the timeout: {took:?}"
    );
    assert!(
        sent < 100 << 20,
        "the client stopped reading early: {sent} bytes sent"
    );
    assert!(
        max_rss_kib < 64 * 1024,
        "memory stayed small: {max_rss_kib} KiB"
    );
}

/// Waits for child `pid` and returns its wait status and its peak resident memory (KiB).
fn wait_with_rusage(pid: u32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: a zeroed `rusage` is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(
        reaped,
        pid as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    (status, usage.ru_maxrss)
}
