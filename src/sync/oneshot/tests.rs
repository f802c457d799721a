use std::task::Poll;
use std::thread;
use std::time::Duration;

use super::error::{RecvError, TryRecvError};
use super::*;
use crate::test_support::{block_on, poll_with, WakeCounter};

#[test]
fn sent_value_is_received() {
    let (tx, rx) = channel();
    tx.send("hello").unwrap();
    assert_eq!(block_on(rx), Ok("hello"));
}

#[test]
fn pending_receiver_is_woken_once_by_send() {
    let (tx, mut rx) = channel();
    let counter = WakeCounter::new();
    assert!(poll_with(&mut rx, &counter).is_pending());
    assert!(poll_with(&mut rx, &counter).is_pending()); // Same waker: registered once.
    tx.send(7).unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(poll_with(&mut rx, &counter), Poll::Ready(Ok(7)));
    assert_eq!(
        poll_with(&mut rx, &counter),
        Poll::Ready(Err(RecvError(())))
    );
}

#[test]
fn dropping_the_sender_unsent_wakes_and_fails_the_receiver() {
    let (tx, mut rx) = channel::<u8>();
    let counter = WakeCounter::new();
    assert!(poll_with(&mut rx, &counter).is_pending());
    drop(tx);
    assert_eq!(counter.count(), 1);
    assert_eq!(
        poll_with(&mut rx, &counter),
        Poll::Ready(Err(RecvError(())))
    );
}

#[test]
fn try_recv_reports_empty_then_value_then_closed() {
    let (tx, mut rx) = channel();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn send_to_a_dropped_receiver_gives_the_value_back() {
    let (tx, rx) = channel();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(
        tx.send(String::from("unwanted")),
        Err(String::from("unwanted"))
    );
}

#[test]
fn close_refuses_later_sends_but_keeps_an_earlier_value() {
    let (tx, mut rx) = channel();
    rx.close();
    assert_eq!(tx.send(1), Err(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (tx, mut rx) = channel();
    tx.send(2).unwrap();
    rx.close();
    assert_eq!(block_on(rx), Ok(2));
}

#[test]
fn sender_closed_resolves_when_the_receiver_goes_away() {
    let (mut tx, mut rx) = channel::<u8>();
    let counter = WakeCounter::new();
    {
        let mut closed = Box::pin(tx.closed());
        assert!(poll_with(&mut closed, &counter).is_pending());
        rx.close();
        assert_eq!(counter.count(), 1);
        assert!(poll_with(&mut closed, &counter).is_ready());
    }
    let (mut tx2, rx2) = channel::<u8>();
    let mut closed = Box::pin(tx2.closed());
    assert!(poll_with(&mut closed, &counter).is_pending());
    drop(rx2);
    assert_eq!(counter.count(), 2);
    assert!(poll_with(&mut closed, &counter).is_ready());
    drop(closed);
    assert!(tx.is_closed() && tx2.is_closed());
}

#[test]
fn dropping_the_receiver_releases_an_unreceived_value_at_once() {
    let payload = std::sync::Arc::new(());
    let (tx, rx) = channel();
    tx.send(payload.clone()).unwrap();
    assert_eq!(std::sync::Arc::strong_count(&payload), 2);
    drop(rx);
    assert_eq!(std::sync::Arc::strong_count(&payload), 1);
}

#[test]
fn value_crosses_threads() {
    let (tx, rx) = channel();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(vec![1, 2, 3]).unwrap();
    });
    assert_eq!(block_on(rx), Ok(vec![1, 2, 3]));
    sender.join().unwrap();
}

#[test]
fn many_cross_thread_round_trips() {
    for i in 0..2_000u32 {
        let (tx, rx) = channel();
        let sender = thread::spawn(move || tx.send(i).unwrap());
        assert_eq!(block_on(rx), Ok(i));
        sender.join().unwrap();
    }
}

#[test]
fn halves_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sender<String>>();
    assert_send_sync::<Receiver<String>>();
}
