//! A client sends a batch of pipelined requests and shuts its writing side down at once. A
//! server reading through `BufReader<BufWriter<TcpStream>>` that writes each response and never
//! flushes still gets them all out: the read that sees the end of the stream sends the buffer
//! first, so the last batch is not dropped with the writer.

mod common;

use common::within;
use coring::io::{AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpListener;
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn a_peer_that_half_closes_after_its_pipelined_requests_gets_every_response() {
    let received = within(Duration::from_secs(60), || {
        coring::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                stream.write_all(b"a\nb\nc\n").unwrap();
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                let mut received = String::new();
                stream.read_to_string(&mut received).unwrap();
                received
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = BufReader::new(BufWriter::new(stream));
            while let Some(line) = conn.next_line(64).await.unwrap() {
                let answer = line.to_ascii_uppercase();
                conn.write_all(answer).await.0.unwrap();
            }
            // No flush: the conversation is over, and the writer is dropped here (the socket is
            // closed once the runtime is, so the client is joined after it).
            drop(conn);
            client
        })
        .join()
        .unwrap()
    });
    assert_eq!(received, "A\nB\nC\n");
}
