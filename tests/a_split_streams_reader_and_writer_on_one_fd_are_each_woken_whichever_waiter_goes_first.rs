//! Adversary: a split TCP stream's reader and writer wait on one fd, one per direction (on
//! epoll, in the fd's per-direction waiter lists, the first waiter kept inline). Whichever of
//! the two waits is dropped first, the other must still be woken by its event, and a wait
//! dropped by one task and taken up by another task must be woken too. 100 rounds of each order
//! on every backend.

mod common;

use common::{backends, poll_once, small_window_pair, Watchdog};
use coring::net::TcpStream;
use coring::time::timeout;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

const ROUNDS: usize = 100;
const BIG: usize = 4 << 20;
const LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Order {
    ReaderDroppedFirst,
    WriterDroppedFirst,
    ReaderTakenUpByAnotherTask,
}

/// One round: the coring side's writer stalls (the peer's window is full) and its reader waits
/// (the peer sent nothing); one wait goes, then the peer answers both ways.
async fn one_round(order: Order) -> Result<(), String> {
    let (mut peer, server) = small_window_pair();
    let stream = TcpStream::from_std(server).unwrap();
    let (read, write) = stream.into_split();
    let read = Rc::new(read);
    let big = vec![7u8; BIG];
    let mut writing = Box::pin(write.write_all(big));
    assert!(
        poll_once(writing.as_mut()).await.is_none(),
        "the write stalls"
    );
    let mut reading = Box::pin(read.read(vec![0u8; 64]));
    assert!(
        poll_once(reading.as_mut()).await.is_none(),
        "the read waits"
    );
    match order {
        Order::ReaderDroppedFirst => {
            reading.set(read.read(vec![0u8; 0]));
            // Unpolled replacement: the wait is gone. The peer drains: the writer must finish.
            let drain = std::thread::spawn(move || {
                let mut sink = vec![0u8; 1 << 16];
                let mut got = 0;
                while got < BIG {
                    got += peer.read(&mut sink).unwrap();
                }
                peer.write_all(b"hello").unwrap();
                peer
            });
            let (done, _) = timeout(LIMIT, writing)
                .await
                .map_err(|_| "the writer was not woken after the reader's wait went")?;
            done.unwrap();
            let _peer = drain.join().unwrap();
            let (n, _) = timeout(LIMIT, read.read(vec![0u8; 64]))
                .await
                .map_err(|_| "a new read did not get the bytes")?;
            assert_eq!(n.unwrap(), 5);
        }
        Order::WriterDroppedFirst => {
            drop(writing);
            peer.write_all(b"hello").unwrap();
            let (n, _) = timeout(LIMIT, reading)
                .await
                .map_err(|_| "the reader was not woken after the writer's wait went")?;
            assert_eq!(n.unwrap(), 5);
        }
        Order::ReaderTakenUpByAnotherTask => {
            drop(reading);
            let other = coring::spawn({
                let read = read.clone();
                async move { timeout(LIMIT, read.read(vec![0u8; 64])).await }
            });
            coring::task::yield_now().await;
            peer.write_all(b"hello").unwrap();
            let (n, _) = other
                .await
                .unwrap()
                .map_err(|_| "a read taken up by another task was not woken")?;
            assert_eq!(n.unwrap(), 5);
            drop(writing);
        }
    }
    Ok(())
}

#[test]
fn a_split_streams_reader_and_writer_on_one_fd_are_each_woken_whichever_waiter_goes_first() {
    let _dog = Watchdog::new(600, "split stream waiters");
    let mut failures = Vec::new();
    for backend in backends() {
        let runtime = coring::Builder::new().backend(backend).build().unwrap();
        for order in [
            Order::ReaderDroppedFirst,
            Order::WriterDroppedFirst,
            Order::ReaderTakenUpByAnotherTask,
        ] {
            for round in 0..ROUNDS {
                if let Err(err) = runtime.block_on(one_round(order)) {
                    failures.push(format!("{backend:?} {order:?} round {round}: {err}"));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
