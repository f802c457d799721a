//! Adversary (`send_owned`): an `OwnedSend` started (polled once) by one task and moved to
//! another, which awaits it, "loses nothing": it finishes there with how much went out and the
//! buffer back, and the peer gets those bytes. On both backends.

mod common;

use common::within;
use coring::buf::IoBuf;
use coring::io::AsyncWriteRent;
use coring::net::TcpStream;
use coring::Backend;
use std::io::Read;
use std::time::Duration;

const LEN: usize = 256 * 1024;

fn run(backend: Backend) {
    let (mut client, server) = common::small_window_pair();
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let (sent, got) = runtime.block_on(async move {
        let stream = TcpStream::from_std(server).unwrap();
        let mut send = Box::pin(stream.send_owned(data.slice(..)).unwrap());
        // The readiness backend may finish it at once (the window takes some): then there is
        // nothing left to move.
        let first = common::poll_once(send.as_mut()).await;
        let other = coring::spawn(async move {
            let (result, buf) = match first {
                Some(out) => out,
                None => send.await,
            };
            (result.unwrap(), buf.into_inner())
        });
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            client
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let _ = client.read_to_end(&mut got);
            got
        });
        let (sent, buf) = other.await.unwrap();
        assert_eq!(buf.len(), LEN, "{backend:?}: the buffer comes back whole");
        drop(stream);
        (sent, reader)
    });
    let got = got.join().unwrap();
    assert!(sent > 0, "{backend:?}: nothing sent");
    assert!(
        got == expected[..sent],
        "{backend:?}: the peer got {} B, {sent} B sent",
        got.len()
    );
}

#[test]
fn an_owned_send_finishes_when_awaited_by_another_task() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
