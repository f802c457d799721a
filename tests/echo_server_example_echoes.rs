//! The `echo_server` example sends back every byte: random payloads (sizes from 1 byte to
//! 256 KiB, sent while the echo is read back) through concurrent connections, with owned buffers,
//! through a provided buffer ring (`--ring`), and on two workers with `SO_REUSEPORT` listeners
//! (`--workers 2`). Closing the writing side gets the end of stream back.

mod common;

use common::examples::{build_example, start_server};
use common::{Watchdog, Xorshift};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `connections` clients at once, each sending `messages` random payloads and reading each
/// echo back in full (a writer thread sends while the reader reads, so large payloads cannot
/// fill both directions' buffers and deadlock).
fn echo_random_payloads(port: u16, connections: u64, messages: usize) {
    let clients: Vec<_> = (0..connections)
        .map(|id| {
            std::thread::spawn(move || {
                let mut rng = Xorshift::new(id + 1);
                let payloads: Vec<Vec<u8>> = (0..messages)
                    .map(|_| {
                        let len = match rng.next_u64() % 4 {
                            0 => 1 + rng.next_u64() as usize % 16,
                            1 => 1 + rng.next_u64() as usize % 4096,
                            _ => 1 + rng.next_u64() as usize % (256 * 1024),
                        };
                        rng.bytes(len)
                    })
                    .collect();
                let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                let mut reader = stream.try_clone().unwrap();
                let expected: Vec<u8> = payloads.concat();
                let writer = std::thread::spawn(move || {
                    let mut stream = stream;
                    for payload in &payloads {
                        stream.write_all(payload).unwrap();
                    }
                    stream.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut echoed = Vec::new();
                reader
                    .read_to_end(&mut echoed)
                    .expect("read the echo to its end");
                writer.join().unwrap();
                assert_eq!(echoed.len(), expected.len(), "connection {id}: echo length");
                assert!(
                    echoed == expected,
                    "connection {id}: the echo differs from what was sent"
                );
                expected.len()
            })
        })
        .collect();
    let total: usize = clients
        .into_iter()
        .map(|c| c.join().expect("a client failed"))
        .sum();
    eprintln!("{connections} connections echoed {total} bytes");
}

fn check(args: &[&str]) {
    let server = start_server(&build_example("echo_server"), args);
    echo_random_payloads(server.port, 16, 12);
}

#[test]
fn echoes_random_payloads_with_owned_buffers() {
    let _watchdog = Watchdog::new(300, "echo_server");
    check(&[]);
}

#[test]
fn echoes_random_payloads_through_a_buffer_ring() {
    if common::skip::io_uring_only("echoes_random_payloads_through_a_buffer_ring") {
        return;
    }
    let _watchdog = Watchdog::new(300, "echo_server --ring");
    check(&["--ring"]);
}

#[test]
fn echoes_random_payloads_on_two_workers() {
    let _watchdog = Watchdog::new(300, "echo_server --workers 2");
    check(&["--workers", "2"]);
    if common::skip::io_uring_only("echoes_random_payloads_on_two_workers (--ring)") {
        return;
    }
    check(&["--workers", "2", "--ring"]);
}
