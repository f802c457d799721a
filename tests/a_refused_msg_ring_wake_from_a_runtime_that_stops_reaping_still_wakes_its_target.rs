//! A runtime that wakes a task of another runtime posts the wake-up with `MSG_RING`. If the
//! kernel refuses it, the refusal is an error completion on the *sender's* ring, and the
//! target, blocked in `io_uring_enter`, only wakes if the sender delivers the wake-up through
//! the target's eventfd instead. A sender that stops reaping right after the send must not lose
//! the wake-up: one whose `block_on` returns and that then sits idle, and one that is dropped
//! (its tasks' drops wake the other runtime while it shuts down).
//!
//! The refusal is scripted (`coring::faults::fail_next_msg_rings`). Run with `cargo test
//! --release --features fault-injection --test
//! a_refused_msg_ring_wake_from_a_runtime_that_stops_reaping_still_wakes_its_target`.

mod common;

use coring::sync::oneshot;
use coring::{faults, Backend, Builder, Runtime};
use std::sync::mpsc;
use std::time::Duration;

/// How long the target gets to wake once the sender is done: a lost wake-up never comes.
const WAKE_LIMIT: Duration = Duration::from_secs(10);

fn io_uring_runtime() -> Option<Runtime> {
    match Builder::new().backend(Backend::IoUring).build() {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            common::skipped("refused MSG_RING wakes", &format!("no io_uring: {err}"));
            None
        }
    }
}

/// A thread whose runtime blocks in the kernel on `rx` (nothing else can wake it) and reports
/// what it got.
fn target(rx: oneshot::Receiver<u32>) -> mpsc::Receiver<Option<u32>> {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = Builder::new().backend(Backend::IoUring).build().unwrap();
        let got = runtime.block_on(rx).ok();
        let _ = done_tx.send(got);
    });
    done_rx
}

#[test]
fn a_sender_idle_after_its_block_on_returns() {
    let Some(sender) = io_uring_runtime() else {
        return;
    };
    let (tx, rx) = oneshot::channel::<u32>();
    let woken = target(rx);
    faults::fail_next_msg_rings(1);
    sender.block_on(async {
        // Long enough for the target to block in the kernel.
        coring::time::sleep(Duration::from_millis(200)).await;
        tx.send(7).unwrap();
    });
    // The script was used: the wake-up really went out as a `MSG_RING`, and was refused.
    assert_eq!(faults::pending().msg_rings, 0, "no MSG_RING was sent");
    // The sender's runtime lives on, idle (no `block_on`): nothing reaps its ring now.
    let got = woken.recv_timeout(WAKE_LIMIT);
    let metrics = sender.metrics();
    assert_eq!(
        got,
        Ok(Some(7)),
        "the target never woke: the refused wake-up was lost; sender: {metrics:#?}"
    );
    assert_eq!(metrics.msg_ring_failed, 1, "{metrics:#?}");
}

#[test]
fn a_sender_dropped_while_its_tasks_drops_wake_the_target() {
    let Some(sender) = io_uring_runtime() else {
        return;
    };
    let (tx, rx) = oneshot::channel::<u32>();
    let woken = target(rx);
    // A task that holds the sender until the runtime drops it: the drop wakes the target.
    sender.spawn(async move {
        let _tx = tx;
        std::future::pending::<()>().await;
    });
    sender.block_on(coring::time::sleep(Duration::from_millis(200)));
    faults::fail_next_msg_rings(1);
    drop(sender);
    assert_eq!(faults::pending().msg_rings, 0, "no MSG_RING was sent");
    assert_eq!(
        woken.recv_timeout(WAKE_LIMIT),
        Ok(None),
        "the target never saw its sender dropped: the refused wake-up was lost"
    );
}

/// The submit that carries the message is put off (`io_uring_enter` fails with `EAGAIN`, to be
/// retried): the refusal comes only with a later submit, which may be the `block_on`'s last.
#[test]
fn a_sender_whose_submit_is_put_off_then_idle() {
    let Some(sender) = io_uring_runtime() else {
        return;
    };
    let (tx, rx) = oneshot::channel::<u32>();
    let woken = target(rx);
    sender.block_on(async {
        coring::time::sleep(Duration::from_millis(200)).await;
        faults::fail_next_msg_rings(1);
        faults::fail_next_enters(libc::EAGAIN, 1);
        tx.send(7).unwrap();
        assert_eq!(
            faults::pending().enters,
            0,
            "the send's submit was not put off"
        );
    });
    assert_eq!(faults::pending().msg_rings, 0, "no MSG_RING was sent");
    let got = woken.recv_timeout(WAKE_LIMIT);
    assert_eq!(
        got,
        Ok(Some(7)),
        "the target never woke: the refused wake-up was lost; sender: {:#?}",
        sender.metrics()
    );
}

/// With `SQPOLL` the kernel's thread would submit the message after the send returns, so a
/// refusal could not be seen at once; the sender's block_on returning must not lose it either.
/// (Such a ring sends no `MSG_RING`: it writes the target's eventfd.)
#[test]
fn a_sqpoll_sender_idle_after_its_block_on_returns() {
    let sender = match Builder::new()
        .backend(Backend::IoUring)
        .sqpoll(Duration::from_millis(100))
        .build()
    {
        Ok(runtime) if runtime.ring_mode() == coring::runtime::RingMode::SqPoll => runtime,
        Ok(_) | Err(_) => {
            common::skipped("refused MSG_RING from an SQPOLL ring", "no SQPOLL ring");
            return;
        }
    };
    let (tx, rx) = oneshot::channel::<u32>();
    let woken = target(rx);
    faults::fail_next_msg_rings(1);
    sender.block_on(async {
        coring::time::sleep(Duration::from_millis(200)).await;
        tx.send(7).unwrap();
    });
    let got = woken.recv_timeout(WAKE_LIMIT);
    let metrics = sender.metrics();
    assert_eq!(
        got,
        Ok(Some(7)),
        "the target never woke: the refused wake-up was lost; sender: {metrics:#?}"
    );
    assert_eq!(metrics.msg_ring_sent, 0, "{metrics:#?}");
    faults::clear();
}
