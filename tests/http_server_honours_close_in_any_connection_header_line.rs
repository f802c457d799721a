//! A request may carry its `Connection` options over several header lines, which mean one
//! comma-separated list (RFC 9110 §5.3). A `close` anywhere in it ends the connection after
//! that request's response, and the server must not process any later request on it (RFC 9112
//! §9.6), as nginx does. Before the fix the server read only the first `Connection` line:
//! `Connection: keep-alive` then `Connection: close` kept the connection open and answered the
//! next pipelined request.

mod common;

use common::examples::{build_example, http_exchange, start_server};
use common::Watchdog;

#[test]
fn http_server_honours_close_in_any_connection_header_line() {
    let _watchdog = Watchdog::new(300, "http_server Connection over two lines");
    let server = start_server(&build_example("http_server"), &[]);
    let request =
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n\
                    GET /second HTTP/1.1\r\nHost: a\r\n\r\n";
    let answer = http_exchange(server.port, request);
    assert_eq!(
        answer.statuses,
        [200],
        "a request after 'close' was answered: {}",
        answer.text
    );
    assert!(answer.closed, "the connection stays open: {}", answer.text);

    // HTTP/1.0: `keep-alive` on a second line keeps the connection open.
    let request = b"GET / HTTP/1.0\r\nConnection: x-other\r\nConnection: keep-alive\r\n\r\n";
    let answer = http_exchange(server.port, request);
    assert_eq!(answer.statuses, [200], "{}", answer.text);
    assert!(!answer.closed, "keep-alive was not seen: {}", answer.text);
}
