//! The `wget` example prints response headers to a terminal: a server that puts escape
//! sequences (or other control characters) in a header must not reach the terminal with them.
//! They are printed escaped, and the rest of the header is kept.

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

#[test]
fn control_characters_in_headers_are_printed_escaped() {
    let _watchdog = Watchdog::new(300, "wget against escape sequences");
    let wget = build_example("wget");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0; 1024];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(
            b"HTTP/1.0 200 OK\r\nX-Evil: \x1b]0;owned\x07\x1b[2Jcleared\x08\r\nX-Tab: a\tb\r\n\r\n",
        );
    });
    let output = Command::new(&wget)
        .args([&host, "--timeout", "10"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the wget example");
    server.join().unwrap();
    let stdout = String::from_utf8(output.stdout).expect("wget prints UTF-8");
    assert!(output.status.success(), "wget failed: {stdout}");
    let controls: Vec<char> = stdout
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(
        controls.is_empty(),
        "control characters reached the terminal: {controls:?}"
    );
    assert!(
        stdout.contains("X-Evil: \\u{1b}]0;owned\\u{7}\\u{1b}[2Jcleared\\u{8}"),
        "{stdout}"
    );
    assert!(stdout.contains("X-Tab: a\tb"), "{stdout}");
}
