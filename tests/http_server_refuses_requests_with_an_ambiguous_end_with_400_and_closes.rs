//! Request smuggling against the `http_server` example: a request whose end a proxy in front
//! might see elsewhere (two different `Content-Length`s, a length with a sign or other
//! non-digits, a length and a `Transfer-Encoding`, a transfer coding the server does not
//! decode) must not let bytes of its body be served as a request of their own. Each gets one
//! `400 Bad Request` and the connection closes, as nginx does; identical repeated lengths are
//! one length (RFC 9112 §6.3).

mod common;

use common::examples::{build_example, http_exchange, start_server};
use common::Watchdog;

/// A second request, hidden in the first one's body if the server reads the first's end short.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn ambiguous_lengths_and_transfer_codings_get_one_400_and_a_close() {
    let _watchdog = Watchdog::new(300, "http_server request smuggling");
    let server = start_server(&build_example("http_server"), &[]);
    let hidden = SMUGGLED.len();
    let cases = [
        format!("Content-Length: 0\r\nContent-Length: {hidden}\r\n"),
        format!("Content-Length: {hidden}\r\nContent-Length: 0\r\n"),
        "Content-Length: +0\r\n".to_owned(),
        "Content-Length: -0\r\n".to_owned(),
        "Content-Length: 0x0\r\n".to_owned(),
        "Content-Length: 0 0\r\n".to_owned(),
        "Content-Length: 0, 0\r\n".to_owned(),
        "Content-Length: \r\n".to_owned(),
        "Content-Length: 99999999999999999999999\r\n".to_owned(),
        format!("Content-Length: {hidden}\r\nTransfer-Encoding: chunked\r\n"),
        "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n".to_owned(),
        "Transfer-Encoding: gzip\r\n".to_owned(),
        "Transfer-Encoding: chunked\r\n".to_owned(),
    ];
    let mut failures = Vec::new();
    for headers in cases {
        let request = format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n{SMUGGLED}");
        let answer = http_exchange(server.port, request.as_bytes());
        if answer.statuses != [400] || !answer.closed {
            failures.push(format!(
                "{headers:?}: statuses {:?}, closed {}",
                answer.statuses, answer.closed
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "not one 400 and a close:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_same_length_twice_is_one_length_and_the_connection_stays_open() {
    let _watchdog = Watchdog::new(300, "http_server repeated Content-Length");
    let server = start_server(&build_example("http_server"), &[]);
    let request =
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello";
    let answer = http_exchange(server.port, format!("{request}{SMUGGLED}").as_bytes());
    assert_eq!(answer.statuses, [200, 200], "{}", answer.text);
    assert!(!answer.closed, "{}", answer.text);
}
