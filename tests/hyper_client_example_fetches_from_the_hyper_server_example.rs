//! The `hyper_client` example (hyper's client on coring) fetches from the `hyper_server`
//! example: status, headers and body printed; a URL it cannot use, or a port nobody listens
//! on, is a one-line error and exit status 1.

mod common;

use common::examples::{build_example_with, start_server};
use common::Watchdog;
use std::process::Command;

#[test]
fn hyper_client_example_fetches_from_the_hyper_server_example() {
    let _watchdog = Watchdog::new(240, "hyper_client example");
    let server = start_server(&build_example_with("hyper_server", &["hyper"]), &[]);
    let client = build_example_with("hyper_client", &["hyper"]);

    let url = format!("http://127.0.0.1:{}/", server.port);
    let out = Command::new(&client)
        .args([&url, "--timeout", "10"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.starts_with("HTTP/1.1 200 OK\n"), "{stdout}");
    assert!(stdout.contains("content-length: 13\n"), "{stdout}");
    assert!(stdout.contains("\nHello, world!\n"), "{stdout}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    for bad in [
        "ftp://example.org/",
        &format!("http://127.0.0.1:{closed_port}/"),
    ] {
        let out = Command::new(&client).arg(bad).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {out:?}");
        assert!(stderr.starts_with("hyper_client: "), "{bad}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bad}: {stderr}");
    }
}
