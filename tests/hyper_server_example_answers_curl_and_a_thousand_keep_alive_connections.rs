//! The `hyper_server` example (hyper 1.x on `coring::compat::hyper`, two workers) as users and
//! load generators meet it: `curl` gets the body, and 1,000 concurrent keep-alive connections
//! each get three responses in a row on one connection, with no error and nothing but `200`.
//!
//! The client side is plain coring sockets and `httparse`, not hyper, so the adapter is not
//! tested against itself.

mod common;

use common::examples::{build_example_with, start_server};
use common::Watchdog;
use coring::net::TcpStream;
use std::process::Command;

const CONNECTIONS: usize = 1_000;
const REQUESTS_EACH: usize = 3;
const BODY: &[u8] = b"Hello, world!";

#[test]
fn hyper_server_example_answers_curl_and_a_thousand_keep_alive_connections() {
    let _watchdog = Watchdog::new(240, "hyper_server example");
    let program = build_example_with("hyper_server", &["hyper"]);
    let server = start_server(&program, &["--workers", "2"]);
    let url = format!("http://127.0.0.1:{}/", server.port);

    match Command::new("curl")
        .args(["-sS", "--max-time", "10", &url])
        .output()
    {
        Ok(out) => {
            assert!(out.status.success(), "curl failed: {out:?}");
            assert_eq!(out.stdout, BODY, "curl's body");
        }
        // Not every machine has curl; the load below checks the same answer.
        Err(err) => eprintln!("curl not run: {err}"),
    }

    let port = server.port;
    let answered = coring::block_on(async move {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| coring::spawn(keep_alive_client(port)))
            .collect();
        let mut answered = 0;
        for result in coring::task::join_all(tasks).await {
            answered += result.unwrap().expect("a connection's requests");
        }
        answered
    });
    assert_eq!(answered, CONNECTIONS * REQUESTS_EACH);
    println!("{answered} responses on {CONNECTIONS} concurrent keep-alive connections");
}

/// Sends `REQUESTS_EACH` requests one after another on one connection; returns how many got a
/// `200` with the body.
async fn keep_alive_client(port: u16) -> std::io::Result<usize> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut pending = Vec::new();
    for _ in 0..REQUESTS_EACH {
        let request = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n".to_vec();
        stream.write_all(request).await.0?;
        let body = read_response(&stream, &mut pending).await?;
        assert_eq!(body, BODY);
    }
    Ok(REQUESTS_EACH)
}

/// Reads one `200` response with a `Content-Length` body and returns the body.
async fn read_response(stream: &TcpStream, pending: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response.parse(pending).map_err(std::io::Error::other)?;
        if let httparse::Status::Complete(head) = parsed {
            assert_eq!(response.code, Some(200));
            let length: usize = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .expect("a Content-Length");
            if pending.len() >= head + length {
                let body = pending[head..head + length].to_vec();
                pending.drain(..head + length);
                return Ok(body);
            }
        }
        let (n, buf) = stream.read(Vec::with_capacity(4096)).await;
        match n? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => pending.extend_from_slice(&buf[..n]),
        }
    }
}
