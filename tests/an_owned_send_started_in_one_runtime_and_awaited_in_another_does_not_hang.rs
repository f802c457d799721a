//! Adversary (`send_owned`): an `OwnedSend` is a future that owns everything it needs, and
//! "kept rather than dropped (its owner polls it again later, from any call), it loses
//! nothing". Started (polled once) in one runtime and awaited in a second on the same thread,
//! while the first is alive but not running, only the first can finish it: the await must end
//! (with its outcome, or an error saying so), not hang, as a `BufWriter`'s parked send does.
//! The peer reads everything meanwhile. On both backends.

mod common;

use common::within;
use coring::buf::IoBuf;
use coring::io::AsyncWriteRent;
use coring::net::TcpStream;
use coring::Backend;
use std::io::Read;
use std::time::Duration;

const LEN: usize = 256 * 1024;

/// Sends without waiting until the socket takes no more, so the next send must wait.
fn fill(stream: &TcpStream) {
    let socket = socket2::SockRef::from(stream);
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(20));
        while socket
            .send_with_flags(&[2u8; 4096], libc::MSG_DONTWAIT)
            .is_ok()
        {}
    }
}

fn run(backend: Backend) {
    let (mut client, server) = common::small_window_pair();
    let first = coring::Builder::new().backend(backend).build().unwrap();
    let (stream, mut send) = first.block_on(async {
        let stream = TcpStream::from_std(server).unwrap();
        fill(&stream);
        let mut send = Box::pin(stream.send_owned(vec![3u8; LEN].slice(..)).unwrap());
        assert!(
            common::poll_once(send.as_mut()).await.is_none(),
            "{backend:?}: it waits"
        );
        (stream, send)
    });
    let peer = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = client.read_to_end(&mut got);
        got.len()
    });
    let second = coring::Builder::new().backend(backend).build().unwrap();
    let (result, _) = second.block_on(send.as_mut());
    println!("{backend:?}: the send awaited in another runtime: {result:?}");
    drop((send, stream, second, first));
    peer.join().unwrap();
}

#[test]
#[ignore = "adversary: an OwnedSend started in one runtime and awaited in another (the first alive, not running) hangs"]
fn an_owned_send_started_in_one_runtime_and_awaited_in_another_does_not_hang() {
    for backend in common::backends() {
        within(Duration::from_secs(20), move || run(backend));
    }
}
