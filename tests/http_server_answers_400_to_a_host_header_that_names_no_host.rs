//! RFC 9112 §3.2: a server must answer `400 Bad Request` to a request whose `Host` header has
//! an invalid value, as it does to one with no `Host` or two (nginx: "client sent invalid host
//! header"). A `Host` is `host[:port]`: a name of letters, digits and `-._~!$&'()*+,;=%`, an
//! IPv4 address, or an IPv6 address in brackets. Before the fix any value was served, spaces,
//! slashes and all. Valid values, the empty one included (the grammar allows it), are served.

mod common;

use common::examples::{build_example, http_exchange, start_server};
use common::Watchdog;

#[test]
fn http_server_answers_400_to_a_host_header_that_names_no_host() {
    let _watchdog = Watchdog::new(300, "http_server invalid Host");
    let server = start_server(&build_example("http_server"), &[]);
    for host in [
        "a b", "a/b", "a@b", "a:80:80", "a:8o", "[::1", "[::1]x", "a\"b",
    ] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let answer = http_exchange(server.port, request.as_bytes());
        assert_eq!(answer.statuses, [400], "Host {host:?}: {}", answer.text);
        assert!(answer.closed, "Host {host:?}: the connection stays open");
    }
    for host in [
        "a",
        "a.example:8080",
        "127.0.0.1:80",
        "[::1]:80",
        "xn--bcher-kva.de",
        "",
    ] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let answer = http_exchange(server.port, request.as_bytes());
        assert_eq!(answer.statuses, [200], "Host {host:?}: {}", answer.text);
    }
}
