//! The examples read through the runtime's read pool as shipped: run under
//! `strace -f -e trace=io_uring_register`, `wget` with no arguments (its three demo servers
//! included) and `http_server` serving one request each register a provided buffer ring
//! (`IORING_REGISTER_PBUF_RING`), with no flag asking for it.
//!
//! Skipped where strace is missing or may not trace (a container without ptrace); under CI
//! (`CI` set, where .ci/run installs strace) a missing strace fails instead.

mod common;

use common::examples::{build_example, http_exchange};
use common::process::run_command;
use common::{skipped, TempDir, Watchdog};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const REGISTERED: &str = "IORING_REGISTER_PBUF_RING";

/// Whether strace can trace here; reports the skip if not.
fn strace_works(test: &str) -> bool {
    let probe = Command::new("strace")
        .args(["-f", "-e", "trace=none", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match probe {
        Ok(output) if output.status.success() => true,
        Ok(output) => {
            let why = String::from_utf8_lossy(&output.stderr).into_owned();
            skipped(test, &format!("strace cannot trace here: {}", why.trim()));
            false
        }
        Err(err) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "strace is missing under CI (.ci/run installs it): {err}"
            );
            skipped(test, &format!("strace is not installed: {err}"));
            false
        }
    }
}

fn strace(log: &Path) -> Command {
    let mut command = Command::new("strace");
    command
        .args(["-f", "-e", "trace=io_uring_register", "-o"])
        .arg(log);
    command
}

#[test]
fn wget_with_no_arguments_registers_a_buffer_ring() {
    if common::skip::io_uring_only("wget_with_no_arguments_registers_a_buffer_ring") {
        return;
    }
    let test = "wget_with_no_arguments_registers_a_buffer_ring";
    if !strace_works(test) {
        return;
    }
    let _watchdog = Watchdog::new(120, test);
    let wget = build_example("wget");
    let dir = TempDir::new("wget-strace");
    let log = dir.path().join("strace.txt");
    let mut command = strace(&log);
    command.arg(&wget);
    let run = run_command(command, Duration::from_secs(60));
    assert!(
        run.status.success(),
        "wget under strace failed: {}",
        run.report()
    );
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains(REGISTERED),
        "wget registered no provided buffer ring:\n{trace}"
    );
}

#[test]
fn http_server_registers_a_buffer_ring_on_its_first_request() {
    if common::skip::io_uring_only("http_server_registers_a_buffer_ring_on_its_first_request") {
        return;
    }
    let test = "http_server_registers_a_buffer_ring_on_its_first_request";
    if !strace_works(test) {
        return;
    }
    let _watchdog = Watchdog::new(120, test);
    let server = build_example("http_server");
    let dir = TempDir::new("http-server-strace");
    let log = dir.path().join("strace.txt");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = strace(&log);
    let mut child = command
        .arg(&server)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start strace");
    common::kill_on_abort(child.id());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "the server said: {line:?}");

    let exchange = http_exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(exchange.statuses, [200], "{}", exchange.text);

    // Stop the traced server (not strace, which would leave it running untraced): it exits
    // on SIGTERM, and strace after it.
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let server_pid: i32 = std::fs::read_to_string(&children)
        .unwrap()
        .split_whitespace()
        .next()
        .expect("strace runs the server")
        .parse()
        .unwrap();
    // SAFETY: kill has no memory-safety preconditions; the pid is strace's live child.
    assert_eq!(unsafe { libc::kill(server_pid, libc::SIGTERM) }, 0);
    assert!(child.wait().unwrap().success(), "the server under strace");
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains(REGISTERED),
        "http_server registered no provided buffer ring:\n{trace}"
    );
}
