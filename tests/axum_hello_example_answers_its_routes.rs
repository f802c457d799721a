//! The `axum_hello` example (an axum `Router` served by hyper on coring): `/` answers the
//! greeting, `/json?name=..` a JSON object, an unknown path `404`, on a keep-alive connection.

mod common;

use common::examples::{build_example_with, start_server};
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn axum_hello_example_answers_its_routes() {
    let _watchdog = Watchdog::new(240, "axum_hello example");
    let program = build_example_with("axum_hello", &["hyper"]);
    let server = start_server(&program, &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut pending = Vec::new();

    let (status, body) = get(&mut stream, &mut pending, "/");
    assert_eq!((status, &body[..]), (200, &b"Hello, world!"[..]));

    let (status, body) = get(&mut stream, &mut pending, "/json?name=coring");
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(json["name"], "coring");
    assert_eq!(json["runtime"], "coring");

    let (status, _) = get(&mut stream, &mut pending, "/no/such/route");
    assert_eq!(status, 404);
}

/// Sends `GET path` on the kept-alive connection; returns the status and body.
fn get(stream: &mut TcpStream, pending: &mut Vec<u8>, path: &str) -> (u16, Vec<u8>) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(pending).unwrap() {
            let length: usize = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .expect("a Content-Length");
            if pending.len() >= head + length {
                let status = response.code.unwrap();
                let body = pending[head..head + length].to_vec();
                pending.drain(..head + length);
                return (status, body);
            }
        }
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("the response");
        assert!(n > 0, "the server closed the connection");
        pending.extend_from_slice(&buf[..n]);
    }
}
