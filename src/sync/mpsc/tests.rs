use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use super::error::{SendError, TryRecvError, TrySendError};
use super::*;
use crate::test_support::{block_on, poll_with, WakeCounter};

#[test]
fn values_arrive_in_order_and_recv_ends_when_senders_are_gone() {
    let (tx, mut rx) = channel(4);
    block_on(async {
        for i in 0..4 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        for i in 0..4 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_panics() {
    let _ = channel::<u8>(0);
}

#[test]
fn try_send_and_try_recv_report_full_empty_and_disconnected() {
    let (tx, mut rx) = channel(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(1).unwrap();
    assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx);
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn full_channel_wakes_exactly_the_first_waiting_sender() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let counters = [WakeCounter::new(), WakeCounter::new(), WakeCounter::new()];
    let mut sends: Vec<_> = (1..=3).map(|i| Box::pin(tx.send(i))).collect();
    for (send, counter) in sends.iter_mut().zip(&counters) {
        assert!(poll_with(send, counter).is_pending());
    }

    assert_eq!(rx.try_recv(), Ok(0));
    let wakes: Vec<_> = counters.iter().map(|c| c.count()).collect();
    assert_eq!(wakes, [1, 0, 0]);

    // The freed slot is promised to the first sender: a newcomer cannot take it.
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert!(matches!(
        poll_with(&mut sends[0], &counters[0]),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(rx.try_recv(), Ok(1));
    let wakes: Vec<_> = counters.iter().map(|c| c.count()).collect();
    assert_eq!(wakes, [1, 1, 0]);
}

#[test]
fn spurious_poll_of_a_waiting_sender_keeps_its_place() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut send_first = Box::pin(tx.send(1));
    let mut send_second = Box::pin(tx.send(2));
    assert!(poll_with(&mut send_first, &first).is_pending());
    assert!(poll_with(&mut send_second, &second).is_pending());
    let first_again = WakeCounter::new();
    assert!(poll_with(&mut send_first, &first_again).is_pending());

    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(
        (first.count(), first_again.count(), second.count()),
        (0, 1, 0)
    );
    assert!(poll_with(&mut send_first, &first_again).is_ready());
}

#[test]
fn dropped_woken_sender_passes_its_wake_up_on() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut send_first = Box::pin(tx.send(1));
    let mut send_second = Box::pin(tx.send(2));
    assert!(poll_with(&mut send_first, &first).is_pending());
    assert!(poll_with(&mut send_second, &second).is_pending());

    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!((first.count(), second.count()), (1, 0));
    drop(send_first); // Woken but never polled again: its slot must not be lost.
    assert_eq!(second.count(), 1);
    assert!(matches!(
        poll_with(&mut send_second, &second),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(3).unwrap(); // Capacity is whole again.
}

#[test]
fn dropped_sender_still_in_line_wakes_nobody_and_leaves_the_line() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut send_first = Box::pin(tx.send(1));
    let mut send_second = Box::pin(tx.send(2));
    assert!(poll_with(&mut send_first, &first).is_pending());
    assert!(poll_with(&mut send_second, &second).is_pending());

    drop(send_first);
    assert_eq!(second.count(), 0);
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(second.count(), 1);
    assert!(poll_with(&mut send_second, &second).is_ready());
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn receiver_drop_fails_waiting_sends_and_returns_the_value() {
    let (tx, rx) = channel(1);
    tx.try_send(String::from("queued")).unwrap();
    let counter = WakeCounter::new();
    let mut send = Box::pin(tx.send(String::from("waiting")));
    assert!(poll_with(&mut send, &counter).is_pending());

    drop(rx);
    assert_eq!(counter.count(), 1);
    match poll_with(&mut send, &counter) {
        Poll::Ready(Err(SendError(value))) => assert_eq!(value, "waiting"),
        other => panic!("expected the value back, got {other:?}"),
    }
    assert!(tx.is_closed());
    assert_eq!(
        tx.try_send(String::from("late")),
        Err(TrySendError::Closed("late".into()))
    );
}

#[test]
fn granted_sender_fails_if_the_receiver_closes_before_it_pushes() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut send_first = Box::pin(tx.send(1));
    let mut send_second = Box::pin(tx.send(2));
    assert!(poll_with(&mut send_first, &first).is_pending());
    assert!(poll_with(&mut send_second, &second).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // Grants the slot to the first sender.
    rx.close();
    assert_eq!(second.count(), 1);
    assert!(matches!(
        poll_with(&mut send_first, &first),
        Poll::Ready(Err(SendError(1)))
    ));
    drop(send_second); // Woken by the close, dropped unpolled: nothing to pass on.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn close_fails_sends_but_keeps_queued_values() {
    let (tx, mut rx) = channel(2);
    tx.try_send(1).unwrap();
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(block_on(tx.send(2)), Err(SendError(2)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(block_on(rx.recv()), None);
}

#[test]
fn pending_recv_is_woken_by_send_and_by_last_sender_drop() {
    let (tx, mut rx) = unbounded_channel();
    let counter = WakeCounter::new();
    let mut recv = Box::pin(rx.recv());
    assert!(poll_with(&mut recv, &counter).is_pending());
    tx.send(5).unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(poll_with(&mut recv, &counter), Poll::Ready(Some(5)));
    drop(recv);

    let tx2 = tx.clone();
    let mut recv = Box::pin(rx.recv());
    assert!(poll_with(&mut recv, &counter).is_pending());
    drop(tx);
    assert_eq!(counter.count(), 1, "another sender is still alive");
    drop(tx2);
    assert_eq!(counter.count(), 2);
    assert_eq!(poll_with(&mut recv, &counter), Poll::Ready(None));
}

#[test]
fn unbounded_send_fails_after_receiver_drop() {
    let (tx, rx) = unbounded_channel();
    tx.send(1).unwrap();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(2), Err(SendError(2)));
}

/// Counts drops, to see when queued values are released.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn receiver_drop_releases_queued_values_at_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = channel(4);
    for _ in 0..3 {
        tx.try_send(DropCounter(drops.clone())).unwrap();
    }
    drop(rx);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    drop(tx);
}

#[test]
fn queued_values_are_dropped_outside_the_lock() {
    // A message carrying a sender of its own channel: dropping it under the lock would deadlock.
    struct CarriesItsOwnSender(#[allow(dead_code)] UnboundedSender<CarriesItsOwnSender>);
    let (tx, rx) = unbounded_channel();
    tx.send(CarriesItsOwnSender(tx.clone())).unwrap();
    drop(tx);
    drop(rx);
}

fn assert_send_sync<T: Send + Sync>(_: &T) {}

#[test]
fn handles_and_send_future_are_send_and_sync() {
    let (tx, rx) = channel::<String>(1);
    let (utx, urx) = unbounded_channel::<String>();
    assert_send_sync(&tx);
    assert_send_sync(&rx);
    assert_send_sync(&utx);
    assert_send_sync(&urx);
    let send = tx.send(String::new());
    assert_send_sync(&send);
}

/// Each of `SENDERS` threads sends `(sender, seq)` pairs; the receiver checks that every pair
/// arrives once and each sender's pairs arrive in order.
fn check_exactly_once_in_order<S: Send + 'static>(
    senders: Vec<S>,
    send: fn(&S, (usize, usize)),
    mut recv: impl FnMut() -> Option<(usize, usize)>,
) {
    const PER_SENDER: usize = 25_000;
    let count = senders.len();
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(id, tx)| thread::spawn(move || (0..PER_SENDER).for_each(|seq| send(&tx, (id, seq)))))
        .collect();
    let mut next_seq = vec![0; count];
    while let Some((id, seq)) = recv() {
        assert_eq!(seq, next_seq[id], "sender {id} out of order");
        next_seq[id] += 1;
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(next_seq, vec![PER_SENDER; count]);
}

#[test]
fn bounded_100k_messages_from_4_threads_arrive_once_in_order() {
    let (tx, mut rx) = channel(16);
    let senders = (0..4).map(|_| tx.clone()).collect();
    drop(tx);
    check_exactly_once_in_order(
        senders,
        |tx, v| block_on(tx.send(v)).unwrap(),
        || block_on(rx.recv()),
    );
}

#[test]
fn unbounded_100k_messages_from_4_threads_arrive_once_in_order() {
    let (tx, mut rx) = unbounded_channel();
    let senders = (0..4).map(|_| tx.clone()).collect();
    drop(tx);
    check_exactly_once_in_order(senders, |tx, v| tx.send(v).unwrap(), || block_on(rx.recv()));
}

#[test]
fn receiver_dropped_mid_stream_unblocks_every_sender_thread() {
    let (tx, mut rx) = channel(2);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || block_on(async { while tx.send(0u8).await.is_ok() {} }))
        })
        .collect();
    drop(tx);
    for _ in 0..100 {
        block_on(rx.recv()).unwrap();
    }
    drop(rx);
    threads.into_iter().for_each(|t| t.join().unwrap());
}
