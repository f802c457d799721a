//! The `http_server` example's head deadline (slowloris protection) bounds each request head,
//! from its own first byte: a client that pipelines without pause, so that the server always
//! holds the start of the next head, but completes every head within a few milliseconds, is
//! served for as long as it goes on, and never gets a `408`.

mod common;

use common::examples::{build_example, http_statuses, start_server};
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The server's head deadline here; the client pipelines for several of them.
const HEAD_DEADLINE: Duration = Duration::from_millis(800);

#[test]
fn continuous_pipelining_is_served_past_the_head_deadline() {
    let _watchdog = Watchdog::new(300, "http_server head deadline per head");
    let deadline_ms = HEAD_DEADLINE.as_millis().to_string();
    let server = start_server(
        &build_example("http_server"),
        &["--head-deadline-ms", &deadline_ms],
    );
    let mut writer = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    writer.set_nodelay(true).unwrap();
    let mut reader = writer.try_clone().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let responses = std::thread::spawn(move || {
        let mut received = Vec::new();
        let _ = reader.read_to_end(&mut received);
        received
    });

    // Each write completes the head the previous one started and starts the next.
    let mut sent = 0;
    let mut written = writer.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT");
    let start = Instant::now();
    while written.is_ok() && start.elapsed() < 4 * HEAD_DEADLINE {
        sent += 1;
        std::thread::sleep(Duration::from_millis(20));
        written = writer.write_all(b"TP/1.1\r\nHost: x\r\n\r\nGET / HT");
    }
    if written.is_ok() {
        written = writer.write_all(b"TP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    }
    let statuses = http_statuses(&responses.join().unwrap());
    let expected = vec![200; sent + 2];
    assert!(
        written.is_ok() && statuses == expected,
        "after {sent} heads (write: {written:?}) the server answered {} responses, \
         not {} times 200; the last ones: {:?}",
        statuses.len(),
        expected.len(),
        &statuses[statuses.len().saturating_sub(3)..]
    );
}
