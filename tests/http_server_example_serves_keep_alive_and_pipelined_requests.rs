//! The `http_server` example as `wrk` uses it: three requests pipelined in one write get three
//! responses in order on a connection that stays open; `Connection: close` and HTTP/1.0 close
//! it after the response; a request head over 8 KiB gets `400 Bad Request` and the connection
//! is closed.

mod common;

use common::examples::{build_example, start_server};
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads one response (head and `Content-Length` body); returns the status, the head's headers
/// in lowercase as `name: value` lines, and the body.
fn read_response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> (u16, Vec<String>, Vec<u8>) {
    read_response_to(stream, pending, false)
}

/// Like `read_response`; a response to `HEAD` (`head_only`) has no body.
fn read_response_to(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
    head_only: bool,
) -> (u16, Vec<String>, Vec<u8>) {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(pending).unwrap() {
            let lines: Vec<String> = response
                .headers
                .iter()
                .map(|h| {
                    format!("{}: {}", h.name, String::from_utf8_lossy(h.value)).to_ascii_lowercase()
                })
                .collect();
            let length: usize = if head_only {
                0
            } else {
                lines
                    .iter()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .expect("a Content-Length")
                    .parse()
                    .unwrap()
            };
            let code = response.code.unwrap();
            if pending.len() >= head + length {
                let body = pending[head..head + length].to_vec();
                pending.drain(..head + length);
                return (code, lines, body);
            }
        }
        let mut buf = [0; 4096];
        let n = stream.read(&mut buf).expect("read a response");
        assert!(n > 0, "the connection closed in the middle of a response");
        pending.extend_from_slice(&buf[..n]);
    }
}

/// After the last response: the server closes the connection (read returns 0).
fn assert_closed(stream: &mut TcpStream, pending: &[u8]) {
    assert!(
        pending.is_empty(),
        "nothing after the last response: {pending:?}"
    );
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the server closes the connection");
    assert!(rest.is_empty(), "nothing after the last response: {rest:?}");
}

const GET: &str = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

#[test]
fn pipelined_requests_get_responses_in_order_and_the_connection_stays_open() {
    let _watchdog = Watchdog::new(300, "http_server pipelining");
    serves_pipelined_requests(&[]);
}

#[test]
fn with_completion_batching_the_same_requests_get_the_same_answers() {
    let _watchdog = Watchdog::new(300, "http_server pipelining, completion batching");
    serves_pipelined_requests(&["--completion-batch", "32,50"]);
}

fn serves_pipelined_requests(args: &[&str]) {
    let server = start_server(&build_example("http_server"), args);
    let mut stream = connect(server.port);
    let mut pending = Vec::new();

    stream.write_all(GET.repeat(3).as_bytes()).unwrap();
    for _ in 0..3 {
        let (code, headers, body) = read_response(&mut stream, &mut pending);
        assert_eq!((code, &body[..]), (200, &b"Hello, world!"[..]));
        assert!(
            !headers.contains(&"connection: close".to_owned()),
            "{headers:?}"
        );
    }
    assert!(pending.is_empty(), "exactly three responses");

    // Still open: a HEAD gets the head alone, and `Connection: close` ends the connection.
    let head = "HEAD / HTTP/1.1\r\nHost: test\r\n\r\n";
    let close = "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    stream
        .write_all(format!("{head}{close}").as_bytes())
        .unwrap();
    let (code, headers, _) = read_response_to(&mut stream, &mut pending, true);
    assert_eq!(code, 200);
    assert!(headers.contains(&"content-length: 13".to_owned()));
    let (code, headers, body) = read_response(&mut stream, &mut pending);
    assert_eq!(
        (code, &body[..]),
        (200, &b"Hello, world!"[..]),
        "no body was sent for HEAD"
    );
    assert!(
        headers.contains(&"connection: close".to_owned()),
        "{headers:?}"
    );
    assert_closed(&mut stream, &pending);

    // HTTP/1.0 without keep-alive: one response, then the server closes.
    let mut stream = connect(server.port);
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (code, _, body) = read_response(&mut stream, &mut pending);
    assert_eq!((code, &body[..]), (200, &b"Hello, world!"[..]));
    assert_closed(&mut stream, &pending);
}

#[test]
fn a_request_head_over_8_kib_gets_400_and_the_connection_closes() {
    let _watchdog = Watchdog::new(300, "http_server oversized head");
    let server = start_server(&build_example("http_server"), &[]);

    // One good request first, then a head of 9 KiB, in one write.
    let mut stream = connect(server.port);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
        "b".repeat(9 * 1024)
    );
    stream.write_all(format!("{GET}{big}").as_bytes()).unwrap();
    let mut pending = Vec::new();
    let (code, _, body) = read_response(&mut stream, &mut pending);
    assert_eq!((code, &body[..]), (200, &b"Hello, world!"[..]));
    let (code, headers, _) = read_response(&mut stream, &mut pending);
    assert_eq!(code, 400);
    assert!(
        headers.contains(&"connection: close".to_owned()),
        "{headers:?}"
    );
    assert_closed(&mut stream, &pending);

    // A head that never ends, sent slowly past 8 KiB: also 400 once the bound is passed.
    let mut stream = connect(server.port);
    stream.write_all(b"GET / HTTP/1.1\r\nX-Endless: ").unwrap();
    for _ in 0..10 {
        stream.write_all(&[b'e'; 1024]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let (code, _, _) = read_response(&mut stream, &mut pending);
    assert_eq!(code, 400);
    assert_closed(&mut stream, &pending);
}
