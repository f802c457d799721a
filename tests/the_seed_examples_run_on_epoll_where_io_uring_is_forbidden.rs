//! Where io_uring is forbidden (a seccomp filter answering EPERM for `io_uring_setup`,
//! `io_uring_enter` and `io_uring_register`, as Docker's default profile does), the seed's
//! examples still run, on the epoll backend: hello, producer_consumer, wget with no arguments
//! (the same header lines as on io_uring) and echo_server with echo_client. Each exits 0 and says
//! once on stderr that it runs on epoll, and why.
//!
//! The filter is installed in the children only (`pre_exec`): it can never be removed.

#![cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]

mod common;

use common::examples::build_example;
use common::seccomp::forbid_io_uring;
use common::Watchdog;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `program args..` with io_uring forbidden, and without `CORING_BACKEND`, so the choice is the
/// automatic one.
fn forbidden(program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args).env_remove("CORING_BACKEND");
    // SAFETY: the closure runs in the forked child before exec; `forbid_io_uring` makes two
    // prctl calls on a stack-allocated filter: no allocation, no lock, no panic.
    unsafe {
        command.pre_exec(|| forbid_io_uring(libc::EPERM));
    }
    command
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("run the example")
}

/// The stderr lines saying the example runs on epoll: exactly one, naming epoll and EPERM.
fn assert_says_epoll_once(name: &str, output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("epoll")).collect();
    assert_eq!(
        lines.len(),
        1,
        "{name}: want one stderr line naming epoll, got:\n{stderr}"
    );
    assert!(
        lines[0].contains("EPERM") && lines[0].contains("seccomp"),
        "{name}: the line should say why (EPERM, seccomp): {}",
        lines[0]
    );
}

fn assert_ok(name: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{name} failed under the filter: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// wget's header lines (`HOST header > LINE`), sorted (sites answer in any order), without the
/// `Date` line, which changes with the second.
fn header_lines(output: &Output) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains(" header > ") && !l.to_lowercase().contains("date:"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn hello_and_producer_consumer_run_on_epoll() {
    let _watchdog = Watchdog::new(300, "the examples under seccomp");
    for name in ["hello", "producer_consumer"] {
        let program = build_example(name);
        let output = run(&mut forbidden(&program, &[]));
        assert_ok(name, &output);
        assert_says_epoll_once(name, &output);
        let plain = run(Command::new(&program).env_remove("CORING_BACKEND"));
        assert_ok(name, &plain);
        // Thread names and ids aside, the same lines.
        let strip = |o: &Output| -> Vec<String> {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.split(" (").next().unwrap_or(l).to_owned())
                .collect()
        };
        let (mut on_epoll, mut on_uring) = (strip(&output), strip(&plain));
        on_epoll.sort();
        on_uring.sort();
        assert_eq!(on_epoll, on_uring, "{name} printed other lines on epoll");
    }
}

#[test]
fn wget_prints_the_same_headers_on_epoll() {
    let _watchdog = Watchdog::new(300, "the examples under seccomp");
    let program = build_example("wget");
    let output = run(&mut forbidden(&program, &[]));
    assert_ok("wget", &output);
    assert_says_epoll_once("wget", &output);
    let plain = run(Command::new(&program).env_remove("CORING_BACKEND"));
    assert_ok("wget", &plain);
    let (on_epoll, on_uring) = (header_lines(&output), header_lines(&plain));
    assert!(!on_uring.is_empty(), "wget printed no header lines");
    assert_eq!(on_epoll, on_uring, "wget's headers differ on epoll");
}

#[test]
fn echo_client_and_server_run_on_epoll() {
    let _watchdog = Watchdog::new(300, "the examples under seccomp");
    let server_program = build_example("echo_server");
    let client_program = build_example("echo_client");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = forbidden(&server_program, &["--addr", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo_server");
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("read the server's first line");
    assert!(line.contains("listening on"), "echo_server said: {line}");
    let client = run(&mut forbidden(
        &client_program,
        &["--addr", &addr, "--connections", "4", "--duration", "1"],
    ));
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(server.id() as i32, libc::SIGINT) };
    let server_out = server.wait_with_output().expect("wait for echo_server");
    assert_ok("echo_client", &client);
    assert_says_epoll_once("echo_client", &client);
    let report = String::from_utf8_lossy(&client.stdout);
    assert!(
        report.to_lowercase().contains("req"),
        "echo_client reported no requests: {report}"
    );
    assert_says_epoll_once("echo_server", &server_out);
}
