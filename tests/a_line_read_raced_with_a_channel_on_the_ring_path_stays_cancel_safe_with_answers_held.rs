//! Issue 19 adversary: `BufReader::next_line` is documented cancel safe on the ring path, and
//! the docs now recommend `BufReader<BufWriter<TcpStream>>` for servers, writing without a
//! flush. A chat-style server races `next_line` against a channel of messages to push (the
//! tokio chat example's `select!`): each message is written (buffered), and the next
//! `next_line` sends it before it waits. When the next message arrives while that send is in
//! flight, the channel wins and the `next_line` future is dropped. That must lose nothing and
//! poison nothing: the peer gets every pushed message and every echo, in order.
//!
//! Failed on both backends (the plain path's `BufWriter::read` sends first too), e.g.
//! `Epoll: writing after 129 races: BufWriter: a dropped flush left unknown how much of the
//! buffer was sent`, until the writer kept the send of a dropped read in flight (an `OwnedSend`)
//! for its next call to finish. Before issue 19's lazy send it failed differently: the pushes
//! sat in the buffer and the peer timed out.

mod common;

use common::within;
use coring::io::{AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpListener;
use coring::Backend;
use std::future::{poll_fn, Future};
use std::io::{BufRead, Write};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

const PUSHED: usize = 2000;

enum Event {
    Line(std::io::Result<Option<Vec<u8>>>),
    Push(Option<Vec<u8>>),
}

fn run(backend: Backend) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let listener = runtime
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        writer.write_all(b"hello\n").unwrap();
        let mut lines = std::io::BufReader::new(stream).lines();
        let mut pushed = 0;
        let mut echoed = false;
        while pushed < PUSHED || !echoed {
            let line = lines.next().expect("the server closed early").unwrap();
            if line == "echo hello" {
                echoed = true;
            } else {
                assert_eq!(line, format!("push {pushed}"), "{backend:?}");
                pushed += 1;
            }
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let dropped = runtime.block_on(async {
        let (stream, _) = listener.accept().await.unwrap();
        let (tx, mut rx) = coring::sync::mpsc::unbounded_channel::<Vec<u8>>();
        coring::spawn(async move {
            for i in 0..PUSHED {
                tx.send(format!("push {i}\n").into_bytes()).unwrap();
                coring::task::yield_now().await;
            }
        });
        let mut conn = BufReader::new(BufWriter::new(stream));
        let mut reads_dropped = 0;
        let mut pushes_open = true;
        loop {
            let event = {
                let mut line = pin!(async {
                    conn.next_line(64)
                        .await
                        .map(|line| line.map(<[u8]>::to_vec))
                });
                let mut push = pin!(rx.recv());
                poll_fn(|cx| {
                    if pushes_open {
                        if let Poll::Ready(pushed) = push.as_mut().poll(cx) {
                            return Poll::Ready(Event::Push(pushed));
                        }
                    }
                    line.as_mut().poll(cx).map(Event::Line)
                })
                .await
            };
            let out = match event {
                Event::Push(Some(message)) => {
                    reads_dropped += 1;
                    message
                }
                Event::Push(None) => {
                    pushes_open = false;
                    continue;
                }
                Event::Line(line) => {
                    match line.unwrap_or_else(|err| panic!("{backend:?}: {err}")) {
                        Some(line) => [b"echo ".as_slice(), &line].concat(),
                        None => break,
                    }
                }
            };
            conn.write_all(out).await.0.unwrap_or_else(|err| {
                panic!("{backend:?}: writing after {reads_dropped} races: {err}")
            });
        }
        reads_dropped
    });
    peer.join().unwrap();
    println!("{backend:?}: {dropped} line reads lost the race to a push");
}

#[test]
fn a_line_read_raced_with_a_channel_on_the_ring_path_stays_cancel_safe_with_answers_held() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
