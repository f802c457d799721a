//! The `http_server` example reads and discards a request body. A `Content-Length` past what
//! it accepts (here `u64::MAX`) must get `413 Content Too Large` and a close at once, not a
//! `200` followed by a connection that waits forever for a body that will never all come.

mod common;

use common::examples::{build_example, http_exchange, start_server};
use common::Watchdog;

#[test]
fn a_body_of_u64_max_bytes_gets_413_and_a_close() {
    let _watchdog = Watchdog::new(300, "http_server huge Content-Length");
    let server = start_server(&build_example("http_server"), &[]);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\nsome of the body",
        u64::MAX
    );
    let answer = http_exchange(server.port, request.as_bytes());
    assert_eq!(answer.statuses, [413], "{}", answer.text);
    assert!(answer.closed, "the connection stayed open: {}", answer.text);
}

#[test]
fn a_body_the_server_accepts_is_skipped_and_the_connection_kept() {
    let _watchdog = Watchdog::new(300, "http_server ordinary body");
    let server = start_server(&build_example("http_server"), &[]);
    let body = "x".repeat(64 * 1024);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        body.len()
    );
    let answer = http_exchange(server.port, request.as_bytes());
    assert_eq!(answer.statuses, [200, 200], "{}", answer.text);
    assert!(!answer.closed, "{}", answer.text);
}
