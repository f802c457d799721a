//! The `wget` example names the server in a `Host` header. An IPv6 address there must be in
//! brackets (RFC 7230 §5.4, RFC 3986 §3.2.2): `Host: ::1` is not a valid header, and a strict
//! server answers it with `400`. Given a bare `::1` (port 80), wget must send `[::1]`, with or
//! without the `:80`.

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

#[test]
fn a_bare_ipv6_address_is_bracketed_in_the_host_header() {
    let _watchdog = Watchdog::new(300, "wget Host for ::1");
    let test = "a_bare_ipv6_address_is_bracketed_in_the_host_header";
    // A bare address means port 80, so the test needs it free on ::1.
    let listener = match TcpListener::bind("[::1]:80") {
        Ok(listener) => listener,
        Err(e) => return common::skipped(test, &format!("cannot listen on [::1]:80: {e}")),
    };
    let wget = build_example("wget");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
        String::from_utf8_lossy(&request).into_owned()
    });
    let output = Command::new(&wget)
        .args(["::1", "--timeout", "10"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the wget example");
    let request = server.join().unwrap();
    assert!(
        output.status.success(),
        "wget failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let host = request
        .lines()
        .find_map(|line| line.strip_prefix("Host: "))
        .unwrap_or("(none)");
    assert!(
        host == "[::1]" || host == "[::1]:80",
        "wget sent `Host: {host}` for ::1:\n{request}"
    );
}
