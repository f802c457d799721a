//! Issue 19 adversary: a `BufReader<BufWriter<TcpStream>>` that read a request and buffered its
//! answer in one runtime is carried (same thread) into another runtime after the first shut
//! down. Its next `next_line` must send the held answer
//! before it waits, since the peer waits for that answer before it sends the next request; and
//! every answer of the conversation must arrive in order. On both backends, 20 rounds each.

mod common;

use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpStream;
use coring::{Backend, Runtime};
use std::io::{BufRead, Write};
use std::time::Duration;

const ROUNDS: usize = 20;

type Conn = BufReader<BufWriter<TcpStream>>;

/// Reads one request and buffers its answer.
fn answer_one(runtime: &Runtime, conn: &mut Conn, expect: &str, backend: Backend) {
    runtime.block_on(async {
        let line = conn.next_line(64).await;
        let line = line.unwrap_or_else(|err| panic!("{backend:?}: waiting for {expect}: {err}"));
        assert_eq!(line, Some(expect.as_bytes()), "{backend:?}");
        let answer = expect.to_ascii_uppercase().into_bytes();
        conn.write_all(answer).await.0.unwrap();
    });
}

fn run(backend: Backend) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = std::io::BufReader::new(stream);
        for i in 0..ROUNDS * 3 {
            writer.write_all(format!("req {i}\n").as_bytes()).unwrap();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap_or_else(|err| {
                panic!("{backend:?}: answer {i} never came (held in the BufWriter?): {err}")
            });
            assert_eq!(line, format!("REQ {i}\n"), "{backend:?}");
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let build = || coring::Builder::new().backend(backend).build().unwrap();
    let first = build();
    let mut conn = first.block_on(async {
        BufReader::new(BufWriter::new(TcpStream::connect(addr).await.unwrap()))
    });
    let mut first = Some(first);
    let mut i = 0;
    for round in 0..ROUNDS {
        // The answer is held when the runtime goes; the next one sends it before it waits.
        let old = first.take().unwrap_or_else(build);
        answer_one(&old, &mut conn, &format!("req {i}\n"), backend);
        answer_one(&old, &mut conn, &format!("req {}\n", i + 1), backend);
        drop(old);
        let second = build();
        answer_one(&second, &mut conn, &format!("req {}\n", i + 2), backend);
        i += 3;
        if round + 1 == ROUNDS {
            second.block_on(async {
                assert_eq!(conn.next_line(64).await.unwrap(), None, "{backend:?}");
                conn.shutdown().await.unwrap();
            });
        }
    }
    peer.join().unwrap();
}

#[test]
fn a_buffered_stream_carried_to_another_runtime_with_answers_held_sends_them_before_it_waits() {
    for backend in common::backends() {
        within(Duration::from_secs(120), move || run(backend));
    }
}
