//! `BufWriter` unit tests: buffering, and what a dropped call leaves (`parked.rs`).

use super::BufWriter;
use crate::io::test_support::ChunkedWriter;
use crate::io::{AsyncWriteRent, AsyncWriteRentExt};
use std::io;

#[test]
fn small_writes_wait_for_flush_and_arrive_in_order() {
    crate::block_on(async {
        let mut writer = BufWriter::with_capacity(16, ChunkedWriter::new(64));
        for part in ["ab", "cd", "ef"] {
            let (n, _) = writer.write(part).await;
            assert_eq!(n.unwrap(), 2);
        }
        assert!(
            writer.get_ref().writes.is_empty(),
            "nothing sent before flush"
        );
        assert_eq!(writer.buffer(), b"abcdef");
        writer.flush().await.unwrap();
        let inner = writer.get_ref();
        assert_eq!(
            (&inner.data[..], &inner.writes[..]),
            (&b"abcdef"[..], &[6][..])
        );
        assert_eq!(inner.flushes, 1);
        assert!(writer.buffer().is_empty());
    });
}

#[test]
fn overflow_sends_the_buffer_first_and_large_writes_bypass_it() {
    crate::block_on(async {
        let mut writer = BufWriter::with_capacity(8, ChunkedWriter::new(64));
        writer.write_all("12345").await.0.unwrap();
        // 5 + 4 > 8: the five buffered bytes go first, then these four are buffered.
        writer.write_all("6789").await.0.unwrap();
        assert_eq!(writer.get_ref().writes, [5]);
        // As large as the buffer: sent first what is buffered, then this one directly.
        writer.write_all("ABCDEFGHIJ").await.0.unwrap();
        writer.write_all("z").await.0.unwrap();
        writer.flush().await.unwrap();
        let inner = writer.into_inner();
        assert_eq!(inner.data, b"123456789ABCDEFGHIJz");
        assert_eq!(inner.writes, [5, 4, 10, 1]);
    });
}

#[test]
fn flush_loops_over_short_inner_writes() {
    crate::block_on(async {
        let mut writer = BufWriter::with_capacity(64, ChunkedWriter::new(3));
        writer.write_all("hello, world").await.0.unwrap();
        writer.flush().await.unwrap();
        assert_eq!(writer.get_ref().data, b"hello, world");
        assert_eq!(writer.get_ref().writes, [3, 3, 3, 3]);
    });
}

#[test]
fn a_failed_flush_keeps_the_unsent_tail() {
    crate::block_on(async {
        let mut inner = ChunkedWriter::new(4);
        inner.accept_limit = Some(6);
        let mut writer = BufWriter::with_capacity(64, inner);
        writer.write_all("0123456789").await.0.unwrap();
        let err = writer.flush().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(writer.get_ref().data, b"012345");
        assert_eq!(
            writer.buffer(),
            b"6789",
            "the unsent bytes are kept, in order"
        );
        writer.get_mut().accept_limit = None;
        writer.flush().await.unwrap();
        assert_eq!(writer.get_ref().data, b"0123456789");
    });
}

#[test]
fn shutdown_flushes_first() {
    crate::block_on(async {
        let mut writer = BufWriter::new(ChunkedWriter::new(1024));
        writer.write_all("bye").await.0.unwrap();
        writer.shutdown().await.unwrap();
        let inner = writer.into_inner();
        assert_eq!(inner.data, b"bye");
        assert!(inner.shut_down);
    });
}

#[test]
fn into_inner_drops_unflushed_bytes() {
    crate::block_on(async {
        let mut writer = BufWriter::new(Vec::new());
        writer.write_all("lost").await.0.unwrap();
        assert!(writer.into_inner().is_empty());
    });
}

#[test]
fn a_reader_over_it_sends_the_batch_of_answers_once_before_it_waits() {
    use crate::io::test_support::{ChunkedReader, Conversation};
    use crate::io::BufReader;
    crate::block_on(async {
        let peer = Conversation {
            reader: ChunkedReader::new("one\ntwo\nthree\n", &[64]),
            writer: ChunkedWriter::new(1024),
            writes_before_read: Vec::new(),
        };
        let mut conn = BufReader::new(BufWriter::new(peer));
        while let Some(line) = conn.next_line(64).await.unwrap() {
            let answer = line.to_ascii_uppercase();
            conn.write_all(answer).await.0.unwrap();
        }
        let peer = conn.into_inner().into_inner();
        assert_eq!(peer.writer.data, b"ONE\nTWO\nTHREE\n");
        assert_eq!(peer.writer.writes, [14], "the three answers in one write");
        assert_eq!(
            peer.writes_before_read,
            [0, 1],
            "the answers went out before the reader waited for the peer again"
        );
    });
}

#[test]
fn a_dropped_flush_poisons_the_writer() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    let mut writer = BufWriter::new(crate::io::test_support::StallingWriter);
    let mut cx = Context::from_waker(Waker::noop());
    let (n, _) = match pin!(writer.write("abc")).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a buffered write completes at once"),
    };
    assert_eq!(n.unwrap(), 3);
    {
        let flush = pin!(writer.flush());
        assert!(flush.poll(&mut cx).is_pending());
    }
    let again = pin!(writer.flush()).poll(&mut cx);
    assert!(matches!(again, Poll::Ready(Err(_))), "poisoned: {again:?}");
}
