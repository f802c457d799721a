//! On the epoll backend a `BufRing` is a user-space pool (issue 21: "buffer-ring reads become
//! plain reads into pooled buffers"): `recv_stream` takes a buffer only once bytes are there, so
//! a reader waiting on an idle socket holds none, and every byte arrives in order. Before, it
//! was refused with `Unsupported`, and so was every server written against it.

mod common;

use coring::buf::BufRing;
use coring::net::{TcpListener, TcpStream};
use coring::time::timeout;
use coring::{Backend, Builder};
use std::io::Write;
use std::time::Duration;

#[test]
fn a_recv_stream_on_epoll_reads_every_byte_and_holds_no_buffer_while_waiting() {
    common::within(Duration::from_secs(60), || {
        let runtime = Builder::new().backend(Backend::Epoll).build().unwrap();
        runtime.block_on(async {
            let ring = BufRing::new(4, 64).expect("a BufRing on epoll");
            assert_eq!(ring.available(), 4);
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let peer = std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                go_rx.recv().unwrap();
                // More than the ring holds at once, so buffers must come back to go on.
                let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
                stream.write_all(&data).unwrap();
            });
            let (stream, _): (TcpStream, _) = listener.accept().await.unwrap();
            let mut incoming = stream.recv_stream(&ring);
            // Nothing sent yet: the receive waits, holding no buffer.
            let waited = timeout(Duration::from_millis(20), incoming.next()).await;
            assert!(waited.is_err(), "a chunk arrived before anything was sent");
            assert_eq!(ring.available(), 4, "an idle receive holds a buffer");
            go_tx.send(()).unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = incoming.next().await {
                let chunk = chunk.expect("a chunk");
                assert!(chunk.len() <= 64);
                got.extend_from_slice(&chunk);
            }
            let want: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            assert_eq!(got.len(), want.len());
            assert!(got == want, "the bytes differ from what was sent");
            assert_eq!(ring.available(), 4, "every buffer came back");
            peer.join().unwrap();
        });
    });
}
