//! `BufReader` over in-memory readers that hand bytes over in small, uneven chunks.

use super::BufReader;
use crate::io::test_support::{ChunkedReader, EndlessReader, StallingReader};
use crate::io::{AsyncReadRent, AsyncReadRentExt};
use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn chunked(data: &[u8], chunks: &[usize], capacity: usize) -> BufReader<ChunkedReader> {
    BufReader::with_capacity(capacity, ChunkedReader::new(data, chunks))
}

/// Every line via `read_line`, until the end of the stream.
async fn lines<R: AsyncReadRent>(reader: &mut BufReader<R>, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line, max).await.unwrap() == 0 {
            return lines;
        }
        lines.push(line);
    }
}

/// Every line via `next_line`, until the end of the stream.
async fn next_lines<R: AsyncReadRent>(reader: &mut BufReader<R>, max: usize) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    while let Some(line) = reader.next_line(max).await.unwrap() {
        lines.push(line.to_vec());
    }
    lines
}

const TEXT: &[u8] = b"alpha\nbeta\n\ngamma delta\nepsilon\n";
const TEXT_LINES: [&str; 5] = ["alpha\n", "beta\n", "\n", "gamma delta\n", "epsilon\n"];

#[test]
fn lines_split_across_chunk_boundaries() {
    crate::block_on(async {
        for chunks in [&[1][..], &[2, 3], &[7, 1, 5], &[100]] {
            for capacity in [1, 4, 13, 8192] {
                let mut reader = chunked(TEXT, chunks, capacity);
                assert_eq!(
                    lines(&mut reader, 64).await,
                    TEXT_LINES,
                    "{chunks:?} {capacity}"
                );

                let mut reader = chunked(TEXT, chunks, capacity.max(12));
                let expected: Vec<&[u8]> = TEXT_LINES.iter().map(|l| l.as_bytes()).collect();
                assert_eq!(next_lines(&mut reader, 12).await, expected);
            }
        }
    });
}

#[test]
fn read_until_splits_on_any_byte() {
    crate::block_on(async {
        let mut reader = chunked(b"a,bb,,ccc", &[2], 3);
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        loop {
            match reader.read_until(b',', &mut out, 10).await.unwrap() {
                0 => break,
                n => sizes.push(n),
            }
        }
        assert_eq!(out, b"a,bb,,ccc", "appended in order");
        assert_eq!(sizes, [2, 3, 1, 3]);
    });
}

#[test]
fn crlf_lines_keep_their_terminator() {
    crate::block_on(async {
        let data = b"GET / HTTP/1.0\r\nHost: a\r\n\r\n";
        let mut reader = chunked(data, &[3, 1], 8);
        assert_eq!(
            lines(&mut reader, 32).await,
            ["GET / HTTP/1.0\r\n", "Host: a\r\n", "\r\n"]
        );
        // A chunk boundary between '\r' and '\n' changes nothing.
        let mut reader = chunked(b"ab\r\ncd\r\n", &[3, 2, 3], 16);
        let expected: [&[u8]; 2] = [b"ab\r\n", b"cd\r\n"];
        assert_eq!(next_lines(&mut reader, 4).await, expected);
    });
}

#[test]
fn a_line_exactly_at_max_is_accepted() {
    crate::block_on(async {
        let data = b"hello\nworld\n";
        let mut reader = chunked(data, &[2], 6);
        assert_eq!(lines(&mut reader, 6).await, ["hello\n", "world\n"]);

        let mut reader = chunked(data, &[2], 6);
        assert_eq!(reader.next_line(6).await.unwrap(), Some(&b"hello\n"[..]));

        // An unterminated last line of exactly `max` bytes is a line, not an error.
        let mut reader = chunked(b"hello", &[2], 16);
        let mut out = Vec::new();
        assert_eq!(reader.read_until(b'\n', &mut out, 5).await.unwrap(), 5);
        let mut reader = chunked(b"hello", &[2], 16);
        assert_eq!(reader.next_line(5).await.unwrap(), Some(&b"hello"[..]));
    });
}

#[test]
fn one_byte_over_max_is_invalid_data() {
    crate::block_on(async {
        let data = b"hello!\nnext\n";

        let mut reader = chunked(data, &[4], 8);
        let mut out = Vec::new();
        let err = reader.read_until(b'\n', &mut out, 6).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            out, b"hello!",
            "the first max bytes are appended and consumed"
        );
        assert_eq!(
            lines(&mut reader, 6).await,
            ["\n", "next\n"],
            "the rest is still there"
        );

        let mut reader = chunked(data, &[4], 8);
        let mut line = String::from("kept");
        let err = reader.read_line(&mut line, 6).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(line, "kept", "read_line leaves `out` as it was on error");

        let mut reader = chunked(data, &[4], 8);
        let err = reader.next_line(6).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(reader.next_line(6).await.unwrap(), Some(&b"\n"[..]));
        assert_eq!(reader.next_line(6).await.unwrap(), Some(&b"next\n"[..]));
    });
}

#[test]
fn an_endless_line_stops_at_max_with_bounded_memory() {
    crate::block_on(async {
        const MAX: usize = 8 * 1024;
        const CAPACITY: usize = 1024;

        let mut reader = BufReader::with_capacity(CAPACITY, EndlessReader::new(1000));
        let mut out = Vec::new();
        let err = reader.read_until(b'\n', &mut out, MAX).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(out.len(), MAX);
        assert!(out.capacity() <= 2 * MAX, "out grew to {}", out.capacity());
        let pulled = reader.get_ref().pulled;
        assert!(pulled <= MAX + CAPACITY, "pulled {pulled} bytes");

        let mut reader = BufReader::with_capacity(CAPACITY, EndlessReader::new(1000));
        let mut line = String::new();
        let err = reader.read_line(&mut line, MAX).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(line.is_empty());
        assert!(reader.get_ref().pulled <= MAX + CAPACITY);

        let mut reader = BufReader::with_capacity(MAX, EndlessReader::new(1000));
        let err = reader.next_line(MAX).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            reader.get_ref().pulled <= MAX + 1,
            "one byte past a full buffer decides"
        );
        assert!(reader.buf.capacity() <= MAX, "the buffer never grows");
    });
}

#[test]
fn eof_mid_line_returns_the_partial_line() {
    crate::block_on(async {
        let mut reader = chunked(b"abc\nxyz", &[2], 4);
        assert_eq!(lines(&mut reader, 16).await, ["abc\n", "xyz"]);
        let mut line = String::new();
        assert_eq!(
            reader.read_line(&mut line, 16).await.unwrap(),
            0,
            "EOF stays EOF"
        );

        let mut reader = chunked(b"abc\nxyz", &[2], 4);
        let expected: [&[u8]; 2] = [b"abc\n", b"xyz"];
        assert_eq!(next_lines(&mut reader, 4).await, expected);
        assert_eq!(reader.next_line(4).await.unwrap(), None);
    });
}

#[test]
fn read_line_rejects_invalid_utf8_but_accepts_split_characters() {
    crate::block_on(async {
        let mut reader = chunked("héllo wörld\n".as_bytes(), &[1], 3);
        assert_eq!(lines(&mut reader, 64).await, ["héllo wörld\n"]);

        let mut reader = chunked(b"ok\n\xff\xfe\nafter\n", &[2], 4);
        let mut line = String::from("> ");
        assert_eq!(reader.read_line(&mut line, 16).await.unwrap(), 3);
        assert_eq!(line, "> ok\n", "appended to what was there");
        let err = reader.read_line(&mut line, 16).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(line, "> ok\n", "`out` untouched");
        assert_eq!(
            lines(&mut reader, 16).await,
            ["after\n"],
            "the bad line was consumed"
        );
    });
}

#[test]
fn next_line_compacts_a_partial_tail_to_the_front() {
    crate::block_on(async {
        // One read fills all 8 bytes: "abcde\n" and the start "fg" of the next line, which
        // must move to the front for "fghij\n" to be read contiguously behind it.
        let mut reader = chunked(b"abcde\nfghij\nk\n", &[8], 8);
        assert_eq!(reader.next_line(8).await.unwrap(), Some(&b"abcde\n"[..]));
        assert_eq!(reader.buffer(), b"fg");
        assert_eq!(reader.next_line(8).await.unwrap(), Some(&b"fghij\n"[..]));
        assert_eq!(reader.pos, 6, "the line was read at the buffer's front");
        assert_eq!(reader.next_line(8).await.unwrap(), Some(&b"k\n"[..]));
        assert_eq!(reader.next_line(8).await.unwrap(), None);
    });
}

#[test]
fn next_line_at_full_capacity_probes_one_byte() {
    crate::block_on(async {
        // A line that fills the buffer exactly, newline included.
        let mut reader = chunked(b"abcdefg\nh", &[8], 8);
        assert_eq!(reader.next_line(8).await.unwrap(), Some(&b"abcdefg\n"[..]));
        assert_eq!(reader.next_line(8).await.unwrap(), Some(&b"h"[..]));

        // A full buffer without a newline, then the end of the stream: the last line.
        let mut reader = chunked(b"abcdefgh", &[3], 8);
        assert_eq!(reader.next_line(8).await.unwrap(), Some(&b"abcdefgh"[..]));
        assert_eq!(reader.next_line(8).await.unwrap(), None);

        // A full buffer without a newline, then more: too long, and the byte read to find out
        // is kept.
        let mut reader = chunked(b"abcdefghij\n", &[3], 8);
        let err = reader.next_line(8).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(reader.next_line(8).await.unwrap(), Some(&b"ij\n"[..]));
    });
}

#[test]
#[should_panic(expected = "must not exceed the BufReader's capacity")]
fn next_line_with_max_over_capacity_panics() {
    let mut reader = BufReader::with_capacity(4, &b""[..]);
    drop(reader.next_line(5));
}

#[test]
fn fill_buf_and_consume() {
    crate::block_on(async {
        let mut reader = chunked(b"abcdef", &[4], 16);
        assert_eq!(reader.fill_buf().await.unwrap(), b"abcd");
        reader.consume(1);
        assert_eq!(
            reader.fill_buf().await.unwrap(),
            b"bcd",
            "no read while bytes remain"
        );
        reader.consume(100);
        assert_eq!(reader.fill_buf().await.unwrap(), b"ef");
        reader.consume(2);
        assert_eq!(reader.fill_buf().await.unwrap(), b"");
    });
}

#[test]
fn read_serves_the_buffer_first_then_bypasses_it() {
    crate::block_on(async {
        let mut reader = chunked(b"line\nrest of the stream", &[8, 100], 8);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line, 8).await.unwrap();
        assert_eq!(reader.buffer(), b"res");
        // Smaller than the capacity: served from the buffer.
        let (n, buf) = reader.read(Vec::with_capacity(2)).await;
        assert_eq!((n.unwrap(), &buf[..]), (2, &b"re"[..]));
        let (n, buf) = reader.read(Vec::with_capacity(64)).await;
        assert_eq!(
            (n.unwrap(), &buf[..]),
            (1, &b"s"[..]),
            "what is buffered, not more"
        );
        // Nothing buffered and a large buffer: straight from the inner reader.
        let (n, buf) = reader.read(Vec::with_capacity(64)).await;
        assert_eq!((n.unwrap(), &buf[..]), (15, &b"t of the stream"[..]));
        let inner = reader.get_ref();
        assert!(
            inner.buffers.contains(&(buf.as_ptr() as usize)),
            "read into the caller's buffer"
        );
        assert_eq!(inner.reads, 2);
    });
}

#[test]
fn read_exact_through_a_buf_reader() {
    crate::block_on(async {
        let mut reader = chunked(b"HEAD\nbody-bytes", &[3], 4);
        let mut head = String::new();
        reader.read_line(&mut head, 8).await.unwrap();
        let (res, body) = reader.read_exact(vec![0u8; 10].into_boxed_slice()).await;
        res.unwrap();
        assert_eq!(&body[..], b"body-bytes");
    });
}

fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    pin!(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_dropped_read_of_an_empty_buffer_loses_nothing() {
    let mut reader = BufReader::with_capacity(16, StallingReader::new(&b"one\n"[..]));
    assert!(matches!(
        poll_once(reader.next_line(16)),
        Poll::Ready(Ok(Some(b"one\n")))
    ));
    assert!(
        poll_once(reader.fill_buf()).is_pending(),
        "dropped while waiting"
    );
    assert_eq!(reader.buf.capacity(), 0, "the buffer left with the read");
    // The next call allocates a new buffer and goes on.
    reader.get_mut().push(b"two\n");
    assert!(matches!(
        poll_once(reader.next_line(16)),
        Poll::Ready(Ok(Some(b"two\n")))
    ));
    assert!(reader.buf.capacity() >= 16);
}

#[test]
fn a_dropped_read_holding_a_partial_line_poisons_the_reader() {
    let mut reader = BufReader::with_capacity(16, StallingReader::new(&b"one\ntw"[..]));
    assert!(matches!(
        poll_once(reader.next_line(16)),
        Poll::Ready(Ok(Some(b"one\n")))
    ));
    // "tw" is buffered; reading the rest of the line stalls, and the future is dropped.
    assert!(poll_once(reader.next_line(16)).is_pending());
    for _ in 0..2 {
        match poll_once(reader.next_line(16)) {
            Poll::Ready(Err(err)) => assert!(err.to_string().contains("dropped read")),
            other => panic!("expected the poison error, got {other:?}"),
        }
    }
    let mut out = String::new();
    assert!(matches!(
        poll_once(reader.read_line(&mut out, 16)),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn a_dropped_read_line_holding_part_of_a_line_poisons_the_reader() {
    for prefix in ["", "prefix:"] {
        let mut reader = BufReader::with_capacity(16, StallingReader::new(&b"hello "[..]));
        let mut out = String::from(prefix);
        // "hello " is taken from the buffer; the rest of the line stalls; the future is dropped.
        assert!(poll_once(reader.read_line(&mut out, 64)).is_pending());
        assert_eq!(out, prefix, "out is untouched until the line is complete");
        reader.get_mut().push(b"world\n");
        match poll_once(reader.read_line(&mut out, 64)) {
            Poll::Ready(Err(err)) => assert!(err.to_string().contains("dropped read"), "{err}"),
            other => panic!("the rest of the line came back as a line: {other:?} {out:?}"),
        }
    }
}

#[test]
fn a_dropped_read_line_that_took_nothing_loses_nothing() {
    let mut reader = BufReader::with_capacity(16, StallingReader::new(Vec::new()));
    let mut out = String::new();
    assert!(poll_once(reader.read_line(&mut out, 64)).is_pending());
    reader.get_mut().push(b"line\n");
    assert!(matches!(
        poll_once(reader.read_line(&mut out, 64)),
        Poll::Ready(Ok(5))
    ));
    assert_eq!(out, "line\n");
}

#[test]
fn consuming_more_than_is_buffered_consumes_it_all() {
    let mut reader = chunked(b"abc\n", &[4], 16);
    crate::block_on(async {
        assert_eq!(reader.fill_buf().await.unwrap(), b"abc\n");
        reader.consume(1);
        reader.consume(usize::MAX);
        assert!(
            reader.fill_buf().await.unwrap().is_empty(),
            "nothing delivered twice"
        );
    });
}
