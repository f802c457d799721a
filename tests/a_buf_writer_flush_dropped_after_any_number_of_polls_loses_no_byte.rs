//! Adversary (BufWriter's parked send): a flush, or a `BufReader` read that sends first, polled
//! N times (N = 1..=40, yielding between polls, while a slow peer drains) then dropped, over and
//! over; every dropped call's send is parked and the next call takes its outcome. The peer must
//! read every byte written, once, in order. Over TCP on both backends, on the plain and the
//! pooled read path, and over a Unix stream.

mod common;

use common::within;
use coring::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::Backend;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

const CHUNK: usize = 24 * 1024;
const MAX_POLLS: usize = 40;

fn chunk(n: usize) -> Vec<u8> {
    (0..CHUNK).map(|i| ((i * 7 + n * 13) % 251) as u8).collect()
}

/// Polls `call` `polls` times (yielding between), then drops it unless it finished.
async fn poll_then_drop<F: Future>(call: F, polls: usize) {
    let mut call = pin!(call);
    for _ in 0..polls {
        let done = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_ready())).await;
        if done {
            return;
        }
        coring::task::yield_now().await;
    }
}

/// Writes chunk N, then drops a flush (even N) or a read sending first (odd N) after N polls.
/// How many of the dropped calls left a send parked (the writer's `Debug` says "sending").
async fn exercise<S: AsyncReadRent + AsyncWriteRent + std::fmt::Debug>(
    stream: S,
    pooled: bool,
) -> usize {
    let mut parked = 0;
    let mut conn = BufReader::new(BufWriter::with_capacity(4 * CHUNK, stream));
    for n in 1..=MAX_POLLS {
        conn.write_all(chunk(n)).await.0.unwrap();
        if n % 2 == 0 {
            poll_then_drop(conn.flush(), n).await;
        } else if pooled {
            poll_then_drop(conn.next_line(64), n).await;
        } else {
            poll_then_drop(conn.read(vec![0u8; 64]), n).await;
        }
        if format!("{:?}", conn.get_ref()).contains("sending: true") {
            parked += 1;
        }
    }
    conn.shutdown().await.unwrap();
    parked
}

fn expected() -> Vec<u8> {
    (1..=MAX_POLLS).flat_map(chunk).collect()
}

/// The bytes the peer got are those written, in order.
fn check(what: &str, got: Vec<u8>) {
    common::peer::assert_same_bytes(what, &got, &expected());
}

fn tcp(backend: Backend, pooled: bool) {
    let (client, server) = common::small_window_pair();
    let peer = common::peer::read_to_end_slowly(client, 1024, Duration::from_micros(100));
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let parked = runtime.block_on(async {
        let stream = coring::net::TcpStream::from_std(server).unwrap();
        if pooled {
            exercise(stream, true).await
        } else {
            // A `&mut` stream: the reader cannot take the pool, so it reads plainly.
            let mut stream = stream;
            exercise(&mut stream, false).await
        }
    });
    let what = format!("TCP {backend:?} pooled {pooled}");
    println!("{what}: {parked} of {MAX_POLLS} dropped calls left a send parked");
    assert!(parked > 0, "{what}: no dropped call left a send parked");
    check(&what, peer.join().unwrap());
}

fn unix(backend: Backend) {
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let peer = common::peer::read_to_end_slowly(peer, 1024, Duration::from_micros(100));
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    // A 4 KiB send buffer, so sends wait for the slow peer.
    socket2::SockRef::from(&ours)
        .set_send_buffer_size(4096)
        .unwrap();
    let parked = runtime.block_on(async {
        let stream = coring::net::UnixStream::from_std(ours).unwrap();
        exercise(stream, false).await
    });
    let what = format!("Unix {backend:?}");
    println!("{what}: {parked} of {MAX_POLLS} dropped calls left a send parked");
    assert!(parked > 0, "{what}: no dropped call left a send parked");
    check(&what, peer.join().unwrap());
}

#[test]
fn a_buf_writer_flush_dropped_after_any_number_of_polls_loses_no_byte() {
    for backend in common::backends() {
        within(Duration::from_secs(120), move || tcp(backend, false));
        within(Duration::from_secs(120), move || tcp(backend, true));
        within(Duration::from_secs(120), move || unix(backend));
    }
}
