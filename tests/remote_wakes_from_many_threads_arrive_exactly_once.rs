//! Four plain threads each send 25,000 numbered messages over one unbounded channel to a task on
//! the runtime. Every message arrives exactly once, each sender's in the order sent, and the
//! receiving task — woken from other threads over and over, parked in between — never misses a
//! wake-up.

mod common;

use common::Watchdog;
use coring::sync::mpsc;
use std::time::Duration;

const SENDERS: usize = 4;
const PER_SENDER: u32 = 25_000;

/// Receives until every sender is gone; checks order and counts per sender.
async fn receive_all(mut rx: mpsc::UnboundedReceiver<(usize, u32)>) -> [u32; SENDERS] {
    let mut next = [0u32; SENDERS];
    while let Some((sender, n)) = rx.recv().await {
        assert!(sender < SENDERS, "unknown sender {sender}");
        assert_eq!(
            n, next[sender],
            "sender {sender}: got message {n}, expected {} (lost, duplicated or reordered)",
            next[sender]
        );
        next[sender] += 1;
    }
    next
}

fn start_senders(
    tx: mpsc::UnboundedSender<(usize, u32)>,
    pause_every: u32,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..SENDERS)
        .map(|sender| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for n in 0..PER_SENDER {
                    tx.send((sender, n)).expect("the receiver is alive");
                    if pause_every > 0 && n % pause_every == 0 {
                        // Let the runtime drain the queue and park again.
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect()
}

#[test]
fn a_hundred_thousand_messages_from_four_threads_arrive_once_and_in_order() {
    let _watchdog = Watchdog::new(
        60,
        "a_hundred_thousand_messages_from_four_threads_arrive_once_and_in_order",
    );
    let runtime = coring::Runtime::new().unwrap();
    let counts = runtime.block_on(async {
        let (tx, rx) = mpsc::unbounded_channel();
        let receiver = coring::spawn(receive_all(rx));
        let senders = start_senders(tx, 0);
        let counts = receiver.await.unwrap();
        for sender in senders {
            sender.join().unwrap();
        }
        counts
    });
    assert_eq!(counts, [PER_SENDER; SENDERS]);
    let (msg_ring, eventfd) = common::notified(&runtime.metrics());
    eprintln!("remote wake-ups: {msg_ring} through MSG_RING, {eventfd} through the eventfd");
    assert_eq!(runtime.metrics().live_tasks, 0);
}

#[test]
fn senders_that_pause_so_the_runtime_parks_between_bursts() {
    let _watchdog = Watchdog::new(60, "senders_that_pause_so_the_runtime_parks_between_bursts");
    let runtime = coring::Runtime::new().unwrap();
    let counts = runtime.block_on(async {
        let (tx, rx) = mpsc::unbounded_channel();
        let receiver = coring::spawn(receive_all(rx));
        let senders = start_senders(tx, 500);
        let counts = receiver.await.unwrap();
        for sender in senders {
            sender.join().unwrap();
        }
        counts
    });
    assert_eq!(counts, [PER_SENDER; SENDERS]);
    let (msg_ring, eventfd) = common::notified(&runtime.metrics());
    assert!(
        msg_ring + eventfd > 0,
        "the parked runtime was woken from the threads"
    );
}

#[test]
fn the_block_on_future_itself_receives_from_four_threads() {
    let _watchdog = Watchdog::new(60, "the_block_on_future_itself_receives_from_four_threads");
    let runtime = coring::Runtime::new().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let senders = start_senders(tx, 1_000);
    let counts = runtime.block_on(receive_all(rx));
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(counts, [PER_SENDER; SENDERS]);
}
