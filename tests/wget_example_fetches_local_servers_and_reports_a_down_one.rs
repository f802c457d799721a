//! The `wget` example as a user runs it: against two HTTP servers this test runs (std threads)
//! and one address nobody listens on, it prints each good server's head as
//! `HOST header > LINE`, one `HOST error > ...` line for the down one, and exits non-zero.
//! With no arguments it fetches from its own three demo servers and exits 0.

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds the example once per test process (release, offline) and returns its executable.
fn wget() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_example("wget"))
}

/// An HTTP/1.0 server on a std thread: reads each request head, answers with `head` and a
/// short body, closes.
fn http_server(head: &'static str) -> String {
    raw_server(format!("{head}\r\n\r\nbody of {head:?}"))
}

/// A server on a std thread that reads each request head, sends `response` as it is, closes.
fn raw_server(response: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.ends_with(b"\r\n\r\n") && request.len() < 64 * 1024 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(response.as_bytes());
        }
    });
    host
}

fn run(args: &[&str]) -> (Output, String) {
    let output = Command::new(wget())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the wget example");
    let stdout = String::from_utf8(output.stdout.clone()).expect("utf-8 output");
    eprintln!(
        "wget {args:?} -> {:?}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (output, stdout)
}

/// The lines printed for `host` with `kind` (`header` or `error`), without the prefix.
fn lines_for<'a>(stdout: &'a str, host: &str, kind: &str) -> Vec<&'a str> {
    let prefix = format!("{host} {kind} > ");
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .collect()
}

const ONE: &str =
    "HTTP/1.0 200 OK\r\nServer: test-one\r\nContent-Type: text/plain\r\nX-Test: first";
const TWO: &str =
    "HTTP/1.1 404 Not Found\r\nServer: test-two\r\nContent-Length: 25\r\nConnection: close";

#[test]
fn two_good_servers_print_their_heads_and_the_down_one_one_error() {
    let _watchdog = Watchdog::new(300, "wget against two servers and a down one");
    wget();
    let (one, two) = (http_server(ONE), http_server(TWO));
    // A port that was just free, and is closed again: connecting is refused.
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };

    let start = Instant::now();
    let (output, stdout) = run(&[&one, &down, &two, "--timeout", "5"]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "a refused connection fails fast"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "a host failed: exit status 1"
    );

    for host in [&one, &down, &two] {
        assert_eq!(
            stdout
                .lines()
                .filter(|l| *l == format!("wget {host}..."))
                .count(),
            1,
            "one `wget {host}...` line"
        );
    }
    assert_eq!(
        lines_for(&stdout, &one, "header"),
        ONE.split("\r\n").collect::<Vec<_>>()
    );
    assert_eq!(
        lines_for(&stdout, &two, "header"),
        TWO.split("\r\n").collect::<Vec<_>>()
    );
    for good in [&one, &two] {
        assert!(
            lines_for(&stdout, good, "error").is_empty(),
            "{good} did not fail"
        );
    }

    let errors = lines_for(&stdout, &down, "error");
    assert_eq!(errors.len(), 1, "exactly one error line for the down host");
    assert!(errors[0].to_lowercase().contains("refused"), "{errors:?}");
    assert!(lines_for(&stdout, &down, "header").is_empty());
    assert_eq!(
        stdout.lines().count(),
        3 + 4 + 4 + 1,
        "nothing else is printed"
    );
}

#[test]
fn with_no_arguments_it_fetches_from_its_three_demo_servers() {
    let _watchdog = Watchdog::new(300, "wget with no arguments");
    wget();
    let (output, stdout) = run(&[]);
    assert!(
        output.status.success(),
        "all demo fetches work: {:?}",
        output.status
    );
    let hosts: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("wget ")?.strip_suffix("..."))
        .collect();
    assert_eq!(hosts.len(), 3, "three demo hosts: {hosts:?}");
    let mut servers: Vec<&str> = Vec::new();
    for host in &hosts {
        assert!(host.starts_with("127.0.0.1:"), "{host}");
        let head = lines_for(&stdout, host, "header");
        assert!(
            head.len() >= 4,
            "{host}: a status line and a few headers: {head:?}"
        );
        assert!(head[0].starts_with("HTTP/1.0 "), "{host}: {head:?}");
        servers.extend(head.iter().filter(|l| l.starts_with("Server: ")));
        assert!(lines_for(&stdout, host, "error").is_empty());
    }
    servers.sort();
    servers.dedup();
    assert_eq!(
        servers.len(),
        3,
        "each demo server names itself differently: {servers:?}"
    );
}

#[test]
fn cut_off_heads_too_many_headers_and_non_http_answers_are_one_error_each() {
    let _watchdog = Watchdog::new(300, "wget against broken servers");
    wget();
    let headers = |n: usize| {
        (0..n)
            .map(|i| format!("X-H{i}: {i}\r\n"))
            .collect::<String>()
    };
    let cut_off = raw_server("HTTP/1.0 200 OK\r\nServer: cut\r\n".into());
    let too_many = raw_server(format!("HTTP/1.0 200 OK\r\n{}\r\n", headers(101)));
    let at_limit = raw_server(format!("HTTP/1.0 200 OK\r\n{}\r\n", headers(100)));
    let not_http = raw_server("SSH-2.0-OpenSSH_9.2\r\n".into());

    let (output, stdout) = run(&[&cut_off, &too_many, &at_limit, &not_http]);
    assert_eq!(output.status.code(), Some(1));
    let error = |host: &str| {
        let errors = lines_for(&stdout, host, "error");
        assert_eq!(errors.len(), 1, "one error line for {host}: {stdout}");
        assert!(
            lines_for(&stdout, host, "header").is_empty(),
            "{host}: no headers"
        );
        errors[0].to_owned()
    };
    assert!(error(&cut_off).contains("before the end of the header"));
    assert!(error(&too_many).contains("more than 100 header lines"));
    assert!(error(&not_http).contains("not an HTTP response"));
    assert_eq!(
        lines_for(&stdout, &at_limit, "header").len(),
        101,
        "100 headers are fine"
    );
    assert!(lines_for(&stdout, &at_limit, "error").is_empty());
}
