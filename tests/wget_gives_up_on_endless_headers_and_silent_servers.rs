//! R9, hostile servers against the `wget` example (run as a user would): a server sending
//! header lines forever makes it stop at its 100-line limit at once; a server that accepts and
//! never answers, and one that trickles a header byte every 100 ms forever, are cut off by the
//! per-fetch deadline (`--timeout`), which covers the whole fetch, not each read. In each case
//! one error line, exit status 1, and the other hosts of the same run are fetched normally.

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// A loopback server on a thread: accepts one connection, reads the request, then `behave`s.
fn hostile_server(behave: fn(TcpStream) -> u64) -> (String, Receiver<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (done_tx, done_rx) = channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = [0; 1024];
        let _ = stream.read(&mut request);
        let _ = done_tx.send(behave(stream));
    });
    (host, done_rx)
}

/// A well-behaved server for the same run: one HTTP/1.0 response.
fn good_server() -> String {
    hostile_server(|mut stream| {
        let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nServer: good\r\n\r\nbody");
        0
    })
    .0
}

/// Runs wget on `hosts` with `--timeout secs`; its stdout, whether it exited with 1, and how
/// long it took.
fn wget(hosts: &[&str], secs: &str) -> (String, bool, Duration) {
    let program = build_example("wget");
    let start = Instant::now();
    let output = Command::new(program)
        .args(hosts)
        .args(["--timeout", secs])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the wget example");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (stdout, output.status.code() == Some(1), took)
}

fn error_of<'a>(stdout: &'a str, host: &str) -> Vec<&'a str> {
    let prefix = format!("{host} error > ");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect()
}

fn assert_good_host_fetched(stdout: &str, good: &str) {
    assert!(
        stdout.contains(&format!("{good} header > HTTP/1.0 200 OK")),
        "the good host is fetched as usual: {stdout}"
    );
}

#[test]
fn endless_headers_stop_at_the_header_line_limit() {
    let _watchdog = Watchdog::new(300, "wget against endless headers");
    let (host, sent) = hostile_server(|mut stream| {
        let mut lines = 0u64;
        if stream.write_all(b"HTTP/1.0 200 OK\r\n").is_ok() {
            while lines < 10_000_000 && stream.write_all(b"X-Endless: v\r\n").is_ok() {
                lines += 1;
            }
        }
        lines
    });
    let good = good_server();
    let (stdout, failed, took) = wget(&[&host, &good], "60");
    let sent = sent.recv_timeout(Duration::from_secs(60)).unwrap();
    let errors = error_of(&stdout, &host);
    println!(
        "R9 wget: endless headers: {errors:?} after {took:?}; the server got {sent} lines out \
         before the client went away"
    );
    assert_eq!(errors.len(), 1, "one error line: {stdout}");
    assert!(errors[0].contains("100 header lines"), "{}", errors[0]);
    assert!(failed, "exit status 1");
    assert!(
        took < Duration::from_secs(10),
        "stopped at the limit: {took:?}"
    );
    assert!(
        sent < 1_000_000,
        "the client stopped reading early: {sent} lines"
    );
    assert_good_host_fetched(&stdout, &good);
}

#[test]
fn a_hundred_header_lines_are_fine_and_the_next_one_is_an_error() {
    let _watchdog = Watchdog::new(300, "wget at the header line limit");
    let (at_limit, _) = hostile_server(|mut stream| {
        let _ = stream.write_all(&head_with(100));
        0
    });
    let (past_limit, _) = hostile_server(|mut stream| {
        let _ = stream.write_all(&head_with(101));
        0
    });
    let (stdout, failed, _) = wget(&[&at_limit, &past_limit], "10");
    let headers = |host: &str| stdout.matches(&format!("{host} header > ")).count();
    println!(
        "R9 wget: 100 header lines: {} lines printed; 101: {:?}",
        headers(&at_limit),
        error_of(&stdout, &past_limit)
    );
    assert_eq!(
        headers(&at_limit),
        101,
        "status line and 100 headers: {stdout}"
    );
    assert!(error_of(&stdout, &at_limit).is_empty(), "{stdout}");
    assert_eq!(headers(&past_limit), 0, "{stdout}");
    assert!(
        error_of(&stdout, &past_limit) == ["more than 100 header lines"],
        "{stdout}"
    );
    assert!(failed, "exit status 1");
}

/// A status line, `headers` header lines and the blank line.
fn head_with(headers: usize) -> Vec<u8> {
    let mut head = b"HTTP/1.0 200 OK\r\n".to_vec();
    for i in 0..headers {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

#[test]
fn a_silent_server_is_cut_off_at_the_fetch_deadline() {
    let _watchdog = Watchdog::new(300, "wget against a silent server");
    let (host, _done) = hostile_server(|stream| {
        // Accepts, reads the request, never answers (until the client goes away).
        let mut stream = stream;
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        0
    });
    let good = good_server();
    let (stdout, failed, took) = wget(&[&host, &good], "1");
    let errors = error_of(&stdout, &host);
    println!("R9 wget: silent server, --timeout 1: {errors:?} after {took:?}");
    assert_eq!(errors.len(), 1, "one error line: {stdout}");
    assert!(errors[0].contains("timed out"), "{}", errors[0]);
    assert!(failed, "exit status 1");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(6),
        "cut off at the 1 s deadline: {took:?}"
    );
    assert_good_host_fetched(&stdout, &good);
}

#[test]
fn a_trickling_server_is_cut_off_at_the_fetch_deadline_not_per_read() {
    let _watchdog = Watchdog::new(300, "wget against a trickling server");
    let (host, sent) = hostile_server(|mut stream| {
        // A valid head, one byte every 100 ms, for at most 60 s: every read gets a byte.
        let head = b"HTTP/1.0 200 OK\r\nX-Slow: ";
        let mut bytes = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let byte = head.get(bytes as usize).copied().unwrap_or(b'a');
            if stream.write_all(&[byte]).is_err() {
                break;
            }
            bytes += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        bytes
    });
    let good = good_server();
    let (stdout, failed, took) = wget(&[&host, &good], "1");
    let sent = sent.recv_timeout(Duration::from_secs(70)).unwrap();
    let errors = error_of(&stdout, &host);
    println!(
        "R9 wget: trickling server (1 byte / 100 ms), --timeout 1: {errors:?} after {took:?}; \
         {sent} bytes trickled before the server saw the client gone"
    );
    assert_eq!(errors.len(), 1, "one error line: {stdout}");
    assert!(errors[0].contains("timed out"), "{}", errors[0]);
    assert!(failed, "exit status 1");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(6),
        "cut off at the 1 s deadline for the whole fetch: {took:?}"
    );
    assert_good_host_fetched(&stdout, &good);
}
