//! A read that took less than its room makes the next read of the stream wait for data before
//! trying (`IORING_RECVSEND_POLL_FIRST`): the socket is probably empty. Bytes that are in fact
//! already waiting when that read is submitted, and bytes that arrive later, must both come,
//! in order, with nothing lost or held back; reads that fill their buffer go on as usual.

mod common;

use common::{checksum, Watchdog, Xorshift};
use coring::net::TcpListener;
use std::io::Write;
use std::sync::mpsc::channel;
use std::time::Duration;

const ROUNDS: usize = 200;

#[test]
fn a_stream_read_after_a_short_read_gets_bytes_already_waiting_and_bytes_sent_later() {
    let _watchdog = Watchdog::new(60, "a_stream_read_after_a_short_read_gets_bytes...");
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The client tells the server what it sent and when it is on the wire, so the server
        // can choose to read before (bytes come later) or after (bytes already wait).
        let (sent, on_wire) = channel::<Vec<u8>>();
        let (ack, acked) = channel::<()>();
        let client = std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            let mut rng = Xorshift::new(19);
            for round in 0..ROUNDS {
                // Short messages (one read each, less than the room), now and then a long one
                // (several full reads, then a short tail).
                let len = if round % 10 == 9 {
                    5000
                } else {
                    1 + round % 40
                };
                let bytes = rng.bytes(len);
                if round % 2 == 1 {
                    // Sent after the server's read is (probably) submitted and waiting.
                    std::thread::sleep(Duration::from_millis(1));
                }
                stream.write_all(&bytes).unwrap();
                sent.send(bytes).unwrap();
                acked.recv().unwrap();
            }
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut buf = Vec::with_capacity(64);
        for round in 0..ROUNDS {
            let mut expected = if round % 2 == 0 {
                // The bytes are on the wire before this round's first read is submitted.
                Some(on_wire.recv().unwrap())
            } else {
                None
            };
            let mut got = Vec::new();
            let expected = loop {
                buf.clear();
                let (n, b) = stream.read(buf).await;
                buf = b;
                let n = n.unwrap_or_else(|err| panic!("round {round}: read failed: {err}"));
                assert!(n > 0, "round {round}: end of stream before the message");
                got.extend_from_slice(&buf[..n]);
                let want = expected.get_or_insert_with(|| on_wire.recv().unwrap());
                if got.len() >= want.len() {
                    break want.clone();
                }
            };
            assert_eq!(
                checksum(&got),
                checksum(&expected),
                "round {round}: {} bytes read, {} sent",
                got.len(),
                expected.len()
            );
            ack.send(()).unwrap();
        }
        client.join().unwrap();
        // The client has closed: the next read (after a short one, so waiting first) sees the
        // end of the stream, with no byte left over.
        let (n, _) = stream.read(buf).await;
        assert_eq!(n.unwrap(), 0, "bytes left over after the last message");
    });
}
