//! Issue 19 adversary: a server reading lines through `BufReader<BufWriter<TcpStream>>` and
//! writing each answer without a flush answers every request, in order, however the peer's
//! bytes arrive: a pipelined batch split in two writes at every offset (with a pause between
//! them, so the reader runs out of input mid-request while answers are buffered), and a peer
//! that sends byte by byte and waits for each answer. On both backends (the ring path on
//! io_uring, the plain path on epoll). A stuck answer shows as the client's read timing out.

mod common;

use common::within;
use coring::io::{AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpListener;
use coring::Backend;
use std::io::{BufRead, Write};
use std::time::Duration;

const LINES: usize = 5;

fn batch(round: usize) -> String {
    (0..LINES).map(|i| format!("req {round}.{i}\n")).collect()
}

/// Reads `LINES` answers of `round` and checks them.
fn expect_answers(reader: &mut impl BufRead, round: usize, what: &str) {
    for i in 0..LINES {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap_or_else(|err| {
            panic!("{what}: waiting for answer {round}.{i} (left in the BufWriter?): {err}")
        });
        assert_eq!(line, format!("REQ {round}.{i}\n"), "{what}");
    }
}

fn run(backend: Backend) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let listener = runtime
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let len = batch(0).len();
        let mut round = 0;
        // The batch split at every offset.
        for cut in 0..=len {
            let bytes = batch(round).into_bytes();
            writer.write_all(&bytes[..cut]).unwrap();
            std::thread::sleep(Duration::from_millis(2));
            writer.write_all(&bytes[cut..]).unwrap();
            expect_answers(&mut reader, round, &format!("{backend:?} cut at {cut}"));
            round += 1;
        }
        // Byte by byte, each line answered before the next is sent.
        for _ in 0..3 {
            for i in 0..LINES {
                for byte in format!("req {round}.{i}\n").bytes() {
                    writer.write_all(&[byte]).unwrap();
                }
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or_else(|err| {
                    panic!("{backend:?} byte by byte: answer {round}.{i}: {err}")
                });
                assert_eq!(line, format!("REQ {round}.{i}\n"));
            }
            round += 1;
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
        // Nothing after the last answer.
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        assert_eq!(rest, "", "{backend:?}: bytes after the last answer");
        round
    });
    let answered = runtime.block_on(async {
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = BufReader::new(BufWriter::new(stream));
        let mut answered = 0;
        while let Some(line) = conn.next_line(64).await.unwrap() {
            let answer = line.to_ascii_uppercase();
            conn.write_all(answer).await.0.unwrap();
            answered += 1;
        }
        // The end of the stream sent the last answers; shutting down sends nothing more.
        coring::io::AsyncWriteRent::shutdown(&mut conn)
            .await
            .unwrap();
        answered
    });
    let rounds = client.join().unwrap();
    assert_eq!(answered, rounds * LINES);
    println!("{backend:?}: {rounds} rounds, {answered} lines answered");
}

#[test]
fn a_buffered_stream_server_answers_batches_split_at_every_offset_without_a_flush() {
    for backend in common::backends() {
        within(Duration::from_secs(120), move || run(backend));
    }
}
