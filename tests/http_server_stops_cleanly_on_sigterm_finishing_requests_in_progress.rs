//! On `SIGTERM` the http_server example stops accepting, closes its idle keep-alive
//! connections, answers a request that was half-sent when the signal came, and exits 0.

mod common;

use common::examples::{build_example, start_server};
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn http_server_stops_cleanly_on_sigterm_finishing_requests_in_progress() {
    let _dog = Watchdog::new(300, "http_server graceful shutdown");
    let program = build_example("http_server");
    let mut server = start_server(&program, &["--grace-ms", "20000"]);
    let connect = || {
        let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
    };
    // An idle keep-alive connection, after one answered request.
    let mut idle = connect();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    // A request in progress: half of its head.
    let mut busy = connect();
    busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));

    server.signal(libc::SIGTERM);
    // The idle connection is closed (EOF), not left to its 30 s idle timeout.
    assert_eq!(
        idle.read(&mut buf).unwrap(),
        0,
        "the idle connection was not closed"
    );
    // No new connections are taken.
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "a stopping server accepted a new connection"
    );
    // The request in progress is answered in full, then the connection closes.
    busy.write_all(b"\r\n").unwrap();
    let mut answer = Vec::new();
    busy.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("Hello, world!"), "{answer}");
    let status = server.wait_exit(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
}
