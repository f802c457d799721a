//! A std peer's side of a byte-stream test: reading what the runtime sent, at full speed or
//! slowly (so the runtime's sends wait for it), and comparing long payloads.

use std::io::Read;
use std::thread::JoinHandle;
use std::time::Duration;

/// Reads `peer` to the end on a thread (each read waiting at most 20 s).
pub fn read_to_end(mut peer: std::net::TcpStream) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        peer.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    })
}

/// Reads `peer` to the end on a thread, `chunk` bytes at most per read with `pause` after each:
/// a peer slower than the runtime's sends.
pub fn read_to_end_slowly<R: Read + Send + 'static>(
    mut peer: R,
    chunk: usize,
    pause: Duration,
) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut piece = vec![0u8; chunk];
        loop {
            match peer.read(&mut piece) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&piece[..n]),
                Err(err) => panic!("the peer's read: {err}"),
            }
            std::thread::sleep(pause);
        }
    })
}

/// `got` is `expected`, or fails saying where they differ (payloads too long to print).
pub fn assert_same_bytes(what: &str, got: &[u8], expected: &[u8]) {
    let first = got.iter().zip(expected).position(|(a, b)| a != b);
    assert!(
        got == expected,
        "{what}: {} B received, {} expected, first difference at {first:?}",
        got.len(),
        expected.len()
    );
}
