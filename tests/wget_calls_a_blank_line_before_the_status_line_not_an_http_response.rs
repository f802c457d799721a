//! A server that answers only `"\r\n"` (or blank lines first) sent no HTTP response: the
//! `wget` example must say so and exit 1, not print nothing and report success.

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

#[test]
fn a_blank_line_before_any_status_line_fails_the_fetch() {
    let _watchdog = Watchdog::new(300, "wget against a blank response");
    let wget = build_example("wget");
    for answer in [&b"\r\n"[..], b"\n", b"\r\nHTTP/1.0 200 OK\r\n\r\n"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer);
        });
        let output = Command::new(&wget)
            .args([&host, "--timeout", "10"])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run the wget example");
        server.join().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{answer:?}: {stdout}");
        assert!(
            stdout.contains(&format!("{host} error > not an HTTP response")),
            "{answer:?}: {stdout}"
        );
    }
}
