//! Issue 19 adversary: a read through `BufReader<BufWriter<TcpStream>>` sends the buffered
//! answers before it waits. Dropped there (a `timeout` around `next_line` while the peer takes
//! no bytes), the send stays in flight, kept by the writer for its next call. The `TcpStream`
//! taken back with `into_inner` before that (which cannot wait for the send) gives the send up
//! and must fail its writes, so the peer sees a prefix of the answers and never a later
//! message glued to a cut-off one. No hang, no panic; both backends.
//!
//! (Before the writer kept such sends, the dropped read poisoned the writer instead, and this
//! test also checked that the writer's own later calls failed; now they go on in order, see
//! `a_line_read_raced_with_a_channel_...`.)

mod common;

use common::within;
use coring::io::{AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpStream;
use coring::Backend;
use std::io::{Read, Write};
use std::time::Duration;

const HELD: usize = 2 << 20;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn run(backend: Backend) {
    // A peer with a small window that does not read until told to.
    let (mut client, server) = common::small_window_pair();
    client.write_all(b"go\n").unwrap();
    let (go, read_now) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        read_now.recv().unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).unwrap();
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
        assert_eq!(
            conn.get_ref().buffer().len(),
            HELD,
            "the answer is buffered"
        );
        // The read sends the answer first; the peer takes little of it, so this times out
        // mid-send.
        let read = coring::time::timeout(Duration::from_millis(300), conn.next_line(64)).await;
        assert!(
            read.is_err(),
            "{backend:?}: the read should still be sending: {read:?}"
        );
        let stream = conn.into_inner().into_inner();
        let raw = stream.write_all(b"tail\n".to_vec()).await.0;
        assert!(
            raw.is_err(),
            "{backend:?}: the stream taken back wrote after a cut-off send"
        );
        // Let the abandoned send's cancellation reach the kernel before the peer reads.
        coring::time::sleep(Duration::from_millis(100)).await;
        go.send(()).unwrap();
        drop(stream);
    });
    let received = reader.join().unwrap();
    assert!(
        received.len() < HELD,
        "{backend:?}: all went, the test proves nothing"
    );
    let prefix = received.iter().enumerate().all(|(i, &b)| b == pattern(i));
    assert!(
        prefix,
        "{backend:?}: the peer got other bytes than a prefix of the answer"
    );
    println!(
        "{backend:?}: the peer got {} of {HELD} bytes",
        received.len()
    );
}

#[test]
fn a_buffered_stream_taken_back_while_a_dropped_read_still_sends_held_answers_fails_its_writes() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
