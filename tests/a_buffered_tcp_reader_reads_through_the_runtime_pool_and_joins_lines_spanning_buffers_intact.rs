//! A `BufReader<TcpStream>` reads through the runtime's read pool with no set-up: the runtime
//! reports the buffer ring path, the reader says it reads through the pool, and lines of random
//! lengths, most longer than one pool buffer (64 bytes here) and sent in random-sized writes,
//! come out byte for byte as sent, through `next_line`, `read_line` and `fill_buf`/`consume`
//! in turn. A line is rejected as too long exactly at its limit, and reading goes on after it.

mod common;

use common::{within, Xorshift};
use coring::io::BufReader;
use coring::net::{TcpListener, TcpStream};
use coring::runtime::ReadPath;
use std::io::Write;
use std::time::Duration;

const LINES: usize = 3000;
const MAX: usize = 512;

fn lines(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Xorshift::new(seed);
    (0..LINES)
        .map(|i| {
            // Every 97th line is over the limit (with its newline): rejected, then skipped.
            let len = match i % 97 {
                96 => MAX + rng.up_to(100),
                _ => rng.up_to(300),
            };
            let mut line: Vec<u8> = (0..len).map(|_| b'a' + rng.below(26) as u8).collect();
            line.push(b'\n');
            line
        })
        .collect()
}

#[test]
fn lines_spanning_pool_buffers_come_out_as_sent() {
    within(Duration::from_secs(60), || {
        let runtime = coring::Builder::new().read_buffers(8, 64).build().unwrap();
        match runtime.read_path() {
            ReadPath::BufferRing {
                buffers,
                buffer_size,
                ..
            } => assert_eq!((buffers, buffer_size), (8, 64)),
            other => panic!("this kernel (6.x) should read through the ring: {other:?}"),
        }
        let expected = lines(0x5eed);
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let sent = expected.clone();
            let writer = std::thread::spawn(move || {
                let mut peer = std::net::TcpStream::connect(addr).unwrap();
                let all: Vec<u8> = sent.concat();
                let mut rng = Xorshift::new(7);
                let mut at = 0;
                while at < all.len() {
                    let n = (1 + rng.up_to(200)).min(all.len() - at);
                    peer.write_all(&all[at..at + n]).unwrap();
                    at += n;
                    if rng.percent(10) {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            });
            let (stream, _) = listener.accept().await.unwrap();
            check_lines(stream, &expected).await;
            writer.join().unwrap();
        });
    });
}

async fn check_lines(stream: TcpStream, expected: &[Vec<u8>]) {
    let mut reader = BufReader::with_capacity(MAX, stream);
    for (i, want) in expected.iter().enumerate() {
        if want.len() > MAX {
            let err = reader.next_line(MAX).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "line {i}");
            // The rest of the too-long line is still to be read.
            let rest = reader.next_line(MAX).await.unwrap().unwrap();
            assert_eq!(rest, &want[MAX..], "the rest of too-long line {i}");
            continue;
        }
        match i % 3 {
            0 => {
                let line = reader.next_line(MAX).await.unwrap();
                assert_eq!(line, Some(&want[..]), "line {i} through next_line");
            }
            1 => {
                let mut line = String::new();
                let n = reader.read_line(&mut line, MAX).await.unwrap();
                assert_eq!((n, line.as_bytes()), (want.len(), &want[..]), "line {i}");
            }
            _ => {
                let mut line = Vec::new();
                while line.last() != Some(&b'\n') {
                    let available = reader.fill_buf().await.unwrap();
                    assert!(!available.is_empty(), "early end of stream at line {i}");
                    let take = available.len().min(want.len() - line.len());
                    line.extend_from_slice(&available[..take]);
                    reader.consume(take);
                }
                assert_eq!(line, *want, "line {i} through fill_buf");
            }
        }
        assert!(reader.reads_through_pool(), "the reader uses the pool");
    }
    assert_eq!(reader.next_line(MAX).await.unwrap(), None, "end of stream");
}
