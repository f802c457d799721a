//! Issue 19 adversary: `timeout_op` promises that the stream stays usable after its deadline
//! ("no later read or write fails because of the timeout"). A read through
//! `BufReader<BufWriter<TcpStream>>` that sends its held answers first, to a peer that takes
//! none of them, runs past the deadline inside that send. It must fail with `TimedOut`, keep the
//! unsent answers, and leave the connection whole: once the peer reads, the next `next_line`
//! (with no time limit) returns the peer's next line, and the peer gets every answer byte
//! once, in order. On both backends.

mod common;

use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpStream;
use coring::time::timeout_op;
use coring::Backend;
use std::io::{Read, Write};
use std::time::Duration;

const HELD: usize = 2 << 20;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn run(backend: Backend) {
    let (mut client, server) = common::small_window_pair();
    client.write_all(b"go\n").unwrap();
    let (go, read_now) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        read_now.recv().unwrap();
        client.write_all(b"next\n").unwrap();
        let mut received = vec![0; HELD + 5];
        client.read_exact(&mut received).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        received.extend(rest);
        received
    });
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    runtime.block_on(async {
        let stream = TcpStream::from_std(server).unwrap();
        let mut conn = BufReader::new(BufWriter::with_capacity(HELD * 2, stream));
        let line = conn.next_line(64).await.unwrap().unwrap().to_vec();
        assert_eq!(line, b"go\n");
        let answer: Vec<u8> = (0..HELD).map(pattern).collect();
        conn.write_all(answer).await.0.unwrap();
        let read = timeout_op(Duration::from_millis(300), conn.next_line(64))
            .await
            .map(|line| line.map(<[u8]>::to_vec));
        let err = read.expect_err("the peer took almost nothing: the send cannot have finished");
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::TimedOut,
            "{backend:?}: {err}"
        );
        let held = conn.get_ref().buffer().len();
        assert!(held > 0, "{backend:?}: nothing left to send");
        go.send(()).unwrap();
        let next = conn
            .next_line(64)
            .await
            .map(|line| line.map(<[u8]>::to_vec));
        assert_eq!(
            next.unwrap_or_else(|err| panic!("{backend:?}: the read after the deadline: {err}")),
            Some(b"next\n".to_vec()),
            "{backend:?}"
        );
        conn.write_all(b"done\n".to_vec()).await.0.unwrap();
        let end = conn
            .next_line(64)
            .await
            .map(|line| line.map(<[u8]>::to_vec));
        assert_eq!(end.unwrap(), None, "{backend:?}: the peer half-closed");
        conn.shutdown().await.unwrap();
        println!("{backend:?}: {held} bytes were still held after the deadline");
    });
    let received = peer.join().unwrap();
    assert_eq!(
        received.len(),
        HELD + 5,
        "{backend:?}: every answer byte, once"
    );
    let intact = received[..HELD]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(i));
    assert!(intact, "{backend:?}: the held answer came back altered");
    assert_eq!(&received[HELD..], b"done\n", "{backend:?}");
}

#[test]
fn a_buffered_read_whose_send_first_is_cut_by_timeout_op_loses_nothing_and_fails_no_later_call() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
