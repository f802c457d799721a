//! Adversary (`send_owned`): an `OwnedSend` dropped before its first poll never started, so
//! the stream goes on as if it had not been made. One dropped while in flight is cancelled as
//! `TcpStream::write` is: if the kernel sent part of it anyway, "every later write on the
//! stream fails saying so" rather than run a cut-off message into the next one. So the peer
//! sees the dropped send's bytes whole or not at all before a later write's, or the later
//! write fails. On both backends.

mod common;

use common::within;
use coring::buf::IoBuf;
use coring::io::AsyncWriteRent;
use coring::net::TcpStream;
use coring::Backend;
use std::io::Read;
use std::time::Duration;

const LEN: usize = 1 << 20;

/// Sends 2s without waiting until the socket takes no more (twice, a while apart: loopback may
/// still move some to the peer, the last time just before returning); how many it took.
fn fill(stream: &TcpStream) -> usize {
    let socket = socket2::SockRef::from(stream);
    let mut sent = 0;
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(20));
        while let Ok(n) = socket.send_with_flags(&[2u8; 4096], libc::MSG_DONTWAIT) {
            sent += n;
        }
    }
    sent
}

fn run(backend: Backend) {
    let (mut client, server) = common::small_window_pair();
    let (go, read_all) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut got = vec![0u8; 5];
        client.read_exact(&mut got).unwrap();
        // While the second send below waits: take some, so part of it can go out.
        std::thread::sleep(Duration::from_millis(100));
        let mut some = vec![0u8; 16 * 1024];
        let n = client.read(&mut some).unwrap();
        got.extend_from_slice(&some[..n]);
        read_all.recv().unwrap();
        client.read_to_end(&mut got).unwrap();
        got
    });
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let (first, next) = runtime.block_on(async {
        let stream = TcpStream::from_std(server).unwrap();
        // Never polled: nothing starts, the stream is untouched.
        drop(stream.send_owned(vec![1u8; LEN].slice(..)).unwrap());
        stream.write_all("hello").await.0.unwrap();
        // Fills both windows, so the next send waits.
        let first = fill(&stream);
        // Started, then dropped while the peer takes a little.
        {
            let mut send = Box::pin(stream.send_owned(vec![3u8; LEN].slice(..)).unwrap());
            assert!(
                common::poll_once(send.as_mut()).await.is_none(),
                "{backend:?}"
            );
            coring::time::sleep(Duration::from_millis(300)).await;
        }
        let (next, _) = stream.write(b"next".to_vec()).await;
        (first, next.map_err(|err| err.to_string()))
    });
    drop(runtime);
    go.send(()).unwrap();
    let got = peer.join().unwrap();
    let ones = got.iter().filter(|&&b| b == 1).count();
    let threes = got.iter().filter(|&&b| b == 3).count();
    println!("{backend:?}: {first} B of the first send, {threes} B of the dropped one; next write: {next:?}");
    assert_eq!(ones, 0, "{backend:?}: the unpolled send sent");
    assert_eq!(&got[..5], b"hello", "{backend:?}");
    assert!(got[5..5 + first].iter().all(|&b| b == 2), "{backend:?}");
    if next.is_ok() {
        assert!(
            threes == 0 || threes == LEN,
            "{backend:?}: {threes} B of the dropped send went out, and the next write succeeded"
        );
        assert!(got.ends_with(b"next"), "{backend:?}");
    }
}

#[test]
fn an_owned_send_dropped_after_part_went_out_fails_the_streams_next_write() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
