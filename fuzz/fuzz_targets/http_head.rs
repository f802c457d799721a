//! The examples' HTTP/1 head handling (`examples/common/http_head.rs`, included as is).
//!
//! Input: two bytes (little-endian) choosing where to split the rest in two chunks, then the
//! bytes a peer sends. The same bytes are fed both to `http_server`'s request handling (as its
//! connection loop does: answer, drop what was consumed, skip body bytes, read more) and, line by
//! line, to `wget`'s response-head check.
//!
//! Invariants (server): never panics; `consumed` ≤ input; a `200` only for a complete head
//! (one blank line per response at least); what the server keeps buffered stays under the 8 KiB
//! head bound; an error response is the last one and closes; the whole input and the same input
//! in two chunks get byte-identical responses. (Client): never panics; at most 1 + 100 lines, each
//! under 8 KiB; the first line parses as a status line.

#![no_main]

#[path = "../../examples/common/http_date.rs"]
#[allow(dead_code)]
mod http_date;
#[path = "../../examples/common/http_head.rs"]
mod http_head;

use http_head::{answer_at, Batch, ResponseHead, MAX_HEAD, MAX_LINE, MAX_RESPONSE_HEADERS};
use libfuzzer_sys::fuzz_target;

const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fuzz_target!(|data: &[u8]| {
    let Some((split, payload)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)) % (payload.len() + 1);
    let whole = serve(&[payload]);
    let (a, b) = payload.split_at(split);
    let chunked = serve(&[a, b]);
    assert_eq!(
        whole, chunked,
        "split at {split}: responses differ from the whole input's"
    );
    read_response_head(payload);
});

/// The server's connection loop over `chunks` (each one read), without I/O. Returns all output.
fn serve(chunks: &[&[u8]]) -> Vec<u8> {
    let mut input: Vec<u8> = Vec::new();
    let mut output = Vec::new();
    let mut skip = 0usize;
    for chunk in chunks {
        input.extend_from_slice(chunk);
        let drop_body = skip.min(input.len());
        input.drain(..drop_body);
        skip -= drop_body;
        let before = output.len();
        let batch = answer_at(&input, &mut output, DATE);
        check_batch(&input, &output[before..], batch);
        input.drain(..batch.consumed);
        skip += batch.skip;
        if batch.close {
            break;
        }
    }
    output
}

fn check_batch(input: &[u8], out: &[u8], batch: Batch) {
    assert!(
        batch.consumed <= input.len(),
        "consumed {} of {}",
        batch.consumed,
        input.len()
    );
    if !batch.close && batch.skip == 0 {
        assert!(
            input.len() - batch.consumed < MAX_HEAD,
            "{} bytes kept for a head, over the {MAX_HEAD}-byte bound",
            input.len() - batch.consumed
        );
    }
    if batch.skip > 0 {
        assert_eq!(batch.consumed, input.len(), "a body to skip but input left");
    }
    let oks = count(out, b"HTTP/1.1 200 OK\r\n");
    let all = count(out, b"HTTP/1.1 ");
    let consumed = &input[..batch.consumed];
    // Every complete head ends with an empty line.
    let blank_lines = count(consumed, b"\n\r\n") + count(consumed, b"\n\n");
    assert!(
        oks <= blank_lines,
        "{oks} responses for {blank_lines} complete heads in {:?}",
        String::from_utf8_lossy(consumed)
    );
    if oks > 0 {
        assert!(batch.consumed > 0, "responses without consuming anything");
    }
    if all > oks {
        // An error response: only one, the last, and the connection closes.
        assert_eq!(all, oks + 1, "more than one error response");
        assert!(batch.close, "an error response without closing");
        let last = out.windows(9).rposition(|w| w == b"HTTP/1.1 ").unwrap();
        assert!(!out[last..].starts_with(b"HTTP/1.1 200"));
    }
    if !batch.close {
        assert_eq!(all, oks, "an error response on a kept-alive connection");
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// `wget`'s loop: `BufReader::next_line(MAX_LINE)` lines into `ResponseHead::line`.
fn read_response_head(mut input: &[u8]) {
    let mut head = ResponseHead::default();
    loop {
        let window = &input[..input.len().min(MAX_LINE)];
        let Some(end) = window.iter().position(|&b| b == b'\n') else {
            return; // too long, or the connection closed before the end of the head
        };
        let (line, rest) = input.split_at(end + 1);
        input = rest;
        match head.line(line) {
            Ok(done) => {
                assert!(head.lines.len() <= 1 + MAX_RESPONSE_HEADERS);
                assert!(head.lines.iter().all(|l| l.len() <= 3 * MAX_LINE));
                if let Some(status) = head.lines.first() {
                    let mut none = [];
                    let parsed = httparse::Response::new(&mut none)
                        .parse(format!("{status}\r\n").as_bytes());
                    assert!(parsed.is_ok(), "accepted status line {status:?}");
                }
                if done {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
