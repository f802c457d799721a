//! A Unix stream echo server (split into halves, one task per direction) returns 1 MiB payloads
//! intact, the client writing and reading at once; shutdown(Write) ends the echo cleanly.

mod common;

use common::unix::SocketDir;
use common::{checksum, Watchdog, Xorshift};
use coring::net::{UnixListener, UnixStream};
use std::net::Shutdown;

const PAYLOAD: usize = 1 << 20;
const ROUNDS: usize = 4;

#[test]
fn unix_echo_round_trips_one_mib_payloads() {
    let _dog = Watchdog::new(60, "unix_echo_round_trips_one_mib_payloads");
    let dir = SocketDir::new("unix-echo");
    let path = dir.path("echo.sock");
    coring::block_on(async move {
        let listener = UnixListener::bind(&path).unwrap();
        let server = coring::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            assert!(peer.is_unnamed(), "{peer:?}");
            let (reader, writer) = stream.into_split();
            let mut buf = Vec::with_capacity(64 * 1024);
            loop {
                buf.clear();
                let (n, b) = reader.read(buf).await;
                match n.unwrap() {
                    0 => break,
                    _ => buf = writer.write_all(b).await.0.map(|()| Vec::new()).unwrap(),
                }
                buf.reserve(64 * 1024);
            }
            writer.shutdown().await.unwrap();
        });

        let client = std::rc::Rc::new(UnixStream::connect(&path).await.unwrap());
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let mut rng = Xorshift::new(22);
        let payloads: Vec<Vec<u8>> = (0..ROUNDS).map(|_| rng.bytes(PAYLOAD)).collect();
        let expected: Vec<u8> = payloads.concat();

        let writer = client.clone();
        let sending = coring::spawn(async move {
            for payload in payloads {
                writer.write_all(payload).await.0.unwrap();
            }
            writer.shutdown(Shutdown::Write).await.unwrap();
        });
        let mut received = Vec::with_capacity(expected.len());
        loop {
            let (n, buf) = client.read(Vec::with_capacity(100_000)).await;
            match n.unwrap() {
                0 => break,
                n => received.extend_from_slice(&buf[..n]),
            }
        }
        sending.await.unwrap();
        server.await.unwrap();
        assert_eq!(received.len(), expected.len());
        assert_eq!(checksum(&received), checksum(&expected));
        assert!(received == expected, "echoed bytes differ");
    });
}
