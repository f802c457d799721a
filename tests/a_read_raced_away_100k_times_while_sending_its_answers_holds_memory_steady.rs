//! Adversary (BufWriter's parked send): a server loop that, 100,000 times, buffers an answer and
//! races `next_line` away right after its first poll (a `select!` whose other branch won), so
//! on io_uring every round parks the send-first and the next round's write takes it. The live
//! heap must not grow with the rounds (a parked `Box` or buffer kept per round would show), and
//! the peer must get every answer once, in order. On both backends.

mod common;

use common::{within, CountingAlloc, HeapSnapshot};
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::Backend;
use std::future::{poll_fn, Future};
use std::io::Read;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

#[global_allocator]
static A: CountingAlloc = CountingAlloc::new();

const ROUNDS: usize = 100_000;
const WARM_UP: usize = 10_000;
const ANSWER: usize = 32;

fn byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// The live heap's growth over the rounds after the warm-up, and how many rounds parked a send.
fn run(backend: Backend) -> (i64, usize) {
    let (mut client, server) = common::small_window_pair();
    // Reads into one fixed buffer and checks the pattern as it goes: allocates nothing.
    let peer = std::thread::spawn(move || {
        let mut piece = [0u8; 4096];
        let mut at = 0usize;
        loop {
            let n = client.read(&mut piece).unwrap();
            if n == 0 {
                return at;
            }
            for &b in &piece[..n] {
                assert_eq!(b, byte(at), "byte {at}");
                at += 1;
            }
        }
    });
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let grown = runtime.block_on(async {
        let stream = coring::net::TcpStream::from_std(server).unwrap();
        let mut conn = BufReader::new(BufWriter::new(stream));
        let mut answer = vec![0u8; ANSWER];
        let mut baseline = None;
        let mut parked = 0usize;
        for round in 0..ROUNDS {
            if round == WARM_UP {
                baseline = Some(HeapSnapshot::now());
            }
            for (i, b) in answer.iter_mut().enumerate() {
                *b = byte(round * ANSWER + i);
            }
            answer = conn.write_all(answer).await.1;
            {
                let mut read = pin!(conn.next_line(64));
                poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx).is_pending())).await;
            }
            if format!("{:?}", conn.get_ref()).contains("sending: true") {
                parked += 1;
            }
        }
        let grown = HeapSnapshot::now().since(&baseline.unwrap()).0;
        conn.shutdown().await.unwrap();
        (grown, parked)
    });
    let (grown, parked) = grown;
    let received = peer.join().unwrap();
    assert_eq!(received, ROUNDS * ANSWER, "{backend:?}: bytes received");
    (grown, parked)
}

#[test]
fn a_read_raced_away_100k_times_while_sending_its_answers_holds_memory_steady() {
    assert!(CountingAlloc::installed());
    for backend in common::backends() {
        let (grown, parked) = within(Duration::from_secs(120), move || run(backend));
        println!(
            "{backend:?}: live heap grew {grown} B over {} rounds; {parked} rounds parked a send",
            ROUNDS - WARM_UP
        );
        assert!(grown < 64 * 1024, "{backend:?}: {grown} B more live heap");
    }
}
