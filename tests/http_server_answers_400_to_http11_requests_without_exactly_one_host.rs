//! RFC 9112 §3.2: a server must answer `400 Bad Request` to an HTTP/1.1 request with no `Host`
//! header or more than one (which would leave it to guess which site is meant, and a proxy in
//! front might guess otherwise), as nginx does. HTTP/1.0 requests need none.

mod common;

use common::examples::{build_example, http_exchange, start_server};
use common::Watchdog;

#[test]
fn no_host_or_two_hosts_get_400_and_a_close() {
    let _watchdog = Watchdog::new(300, "http_server Host header");
    let server = start_server(&build_example("http_server"), &[]);
    let cases = [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
    ];
    for request in cases {
        let answer = http_exchange(server.port, request.as_bytes());
        assert_eq!(answer.statuses, [400], "{request:?}: {}", answer.text);
        assert!(answer.closed, "{request:?}: the connection stays open");
    }
}

#[test]
fn one_host_or_http10_without_one_is_served() {
    let _watchdog = Watchdog::new(300, "http_server Host header, good requests");
    let server = start_server(&build_example("http_server"), &[]);
    let answer = http_exchange(server.port, b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n");
    assert_eq!(answer.statuses, [200], "{}", answer.text);
    assert!(!answer.closed);
    let answer = http_exchange(server.port, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(answer.statuses, [200], "{}", answer.text);
    assert!(answer.closed, "HTTP/1.0 without keep-alive closes");
}
