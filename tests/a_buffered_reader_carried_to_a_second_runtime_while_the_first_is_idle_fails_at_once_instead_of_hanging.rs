//! Issue 19 adversary: a `BufReader<TcpStream>` reads through a receive armed in its runtime's
//! read pool. Carried (same thread) into a second runtime while the first is still alive but
//! not running, its armed receive can only be reaped by the first runtime, which may already
//! hold the peer's next bytes. The read in the second runtime must not wait for ever: like a
//! `TcpStream` whose cancelled op only an idle runtime can finish, it fails at once saying so,
//! and once the first runtime is dropped the reader goes on with every byte, in order. Both
//! backends.

mod common;

use common::within;
use coring::io::BufReader;
use coring::net::TcpStream;
use coring::Backend;
use std::io::Write;
use std::time::Duration;

fn run(backend: Backend) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"one\n").unwrap();
        wait.recv().unwrap();
        peer.write_all(b"two\n").unwrap();
        wait.recv().unwrap();
        peer.write_all(b"three\n").unwrap();
    });
    let build = || coring::Builder::new().backend(backend).build().unwrap();
    let first = build();
    let second = build();
    let mut reader = first.block_on(async {
        let mut reader = BufReader::new(TcpStream::connect(addr).await.unwrap());
        assert_eq!(reader.next_line(64).await.unwrap(), Some(&b"one\n"[..]));
        reader
    });
    go.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    second.block_on(async {
        let line = coring::time::timeout(Duration::from_secs(5), reader.next_line(64)).await;
        let line = line.unwrap_or_else(|_| {
            panic!("{backend:?}: the read waits for a receive only the idle runtime can reap")
        });
        let err = line.expect_err("the receive belongs to the idle runtime");
        assert!(
            err.to_string().contains("another runtime"),
            "{backend:?}: {err}"
        );
    });
    drop(first);
    go.send(()).unwrap();
    second.block_on(async {
        assert_eq!(reader.next_line(64).await.unwrap(), Some(&b"two\n"[..]));
        assert_eq!(reader.next_line(64).await.unwrap(), Some(&b"three\n"[..]));
        assert_eq!(reader.next_line(64).await.unwrap(), None);
    });
    peer.join().unwrap();
}

#[test]
fn a_buffered_reader_carried_to_a_second_runtime_while_the_first_is_idle_fails_at_once_instead_of_hanging(
) {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
