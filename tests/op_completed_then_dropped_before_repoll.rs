//! An operation whose completion the runtime has already reaped, but whose future is dropped
//! before being polled again, must release its slot: the result sits in the slot ("completed,
//! not yet taken") and dropping the future takes it out. Nothing may leak, be cancelled twice,
//! or hit a "completion for an unknown slot" later.
//!
//! Slots and results reaped ahead of their futures are io_uring's: on epoll an op performs its
//! call when polled and holds no slot, so these tests are skipped there.

mod common;

use common::Watchdog;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::Poll;

type Nop = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// Polls every op once (which submits it) and checks none is ready yet.
async fn poll_each_once(ops: &mut [Nop]) {
    poll_fn(|cx| {
        for (i, op) in ops.iter_mut().enumerate() {
            assert!(
                op.as_mut().poll(cx).is_pending(),
                "nop {i} finished at its first poll; it must go through the ring"
            );
        }
        Poll::Ready(())
    })
    .await;
}

/// Yields until the ring has nothing in flight (bounded by the watchdog and a count).
async fn yield_until_reaped(runtime: &coring::Runtime) {
    coring::task::yield_now().await;
    coring::task::yield_now().await;
    for _ in 0..10_000 {
        if runtime.metrics().ops_in_flight == 0 {
            return;
        }
        coring::task::yield_now().await;
    }
    panic!(
        "no-ops still in flight after 10,000 yields: {} (a busy loop never reaps them)",
        runtime.metrics().ops_in_flight
    );
}

const OPS: usize = 500;

#[test]
fn completed_ops_dropped_before_repoll_release_their_slots() {
    if common::skip::io_uring_only("completed_ops_dropped_before_repoll_release_their_slots") {
        return;
    }
    let _watchdog = Watchdog::new(
        20,
        "completed_ops_dropped_before_repoll_release_their_slots",
    );
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut ops: Vec<Nop> = (0..OPS)
            .map(|_| Box::pin(coring::runtime::nop()) as Nop)
            .collect();
        poll_each_once(&mut ops).await;
        assert_eq!(runtime.metrics().op_slots_in_use, OPS);
        yield_until_reaped(&runtime).await;
        assert_eq!(
            runtime.metrics().op_slots_in_use,
            OPS,
            "reaped results wait in their slots for the futures"
        );
        drop(ops);
        assert_eq!(
            runtime.metrics().op_slots_in_use,
            0,
            "dropping took the results out"
        );
        assert_eq!(runtime.metrics().ops_in_flight, 0);
        // The ring is healthy afterwards.
        coring::runtime::nop().await.unwrap();
        coring::task::yield_now().await;
        assert_eq!(runtime.metrics().op_slots_in_use, 0);
    });
    assert_eq!(runtime.metrics().op_slots_in_use, 0);
}

#[test]
fn the_same_inside_a_spawned_task() {
    if common::skip::io_uring_only("the_same_inside_a_spawned_task") {
        return;
    }
    let _watchdog = Watchdog::new(20, "the_same_inside_a_spawned_task");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let rt = &runtime;
        let task = coring::spawn(async {
            let mut ops: Vec<Nop> = (0..OPS)
                .map(|_| Box::pin(coring::runtime::nop()) as Nop)
                .collect();
            poll_each_once(&mut ops).await;
            coring::task::yield_now().await;
            coring::task::yield_now().await;
            ops
        });
        let ops = task.await.unwrap();
        yield_until_reaped(rt).await;
        assert_eq!(rt.metrics().op_slots_in_use, OPS);
        drop(ops);
        assert_eq!(rt.metrics().op_slots_in_use, 0);
    });
}

#[test]
fn half_taken_half_dropped() {
    if common::skip::io_uring_only("half_taken_half_dropped") {
        return;
    }
    let _watchdog = Watchdog::new(20, "half_taken_half_dropped");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut ops: Vec<Nop> = (0..OPS)
            .map(|_| Box::pin(coring::runtime::nop()) as Nop)
            .collect();
        poll_each_once(&mut ops).await;
        yield_until_reaped(&runtime).await;
        let kept = ops.split_off(OPS / 2);
        drop(ops);
        assert_eq!(runtime.metrics().op_slots_in_use, OPS - OPS / 2);
        for result in coring::task::join_all(kept).await {
            result.unwrap();
        }
        assert_eq!(runtime.metrics().op_slots_in_use, 0);
    });
}

#[test]
fn ops_dropped_while_still_in_flight_are_reaped_later() {
    if common::skip::io_uring_only("ops_dropped_while_still_in_flight_are_reaped_later") {
        return;
    }
    let _watchdog = Watchdog::new(20, "ops_dropped_while_still_in_flight_are_reaped_later");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut ops: Vec<Nop> = (0..OPS)
            .map(|_| Box::pin(coring::runtime::nop()) as Nop)
            .collect();
        // Pushed but not yet submitted: dropping abandons them to the driver.
        poll_each_once(&mut ops).await;
        drop(ops);
        yield_until_reaped(&runtime).await;
        for _ in 0..100 {
            if runtime.metrics().op_slots_in_use == 0 {
                break;
            }
            coring::task::yield_now().await;
        }
        assert_eq!(
            runtime.metrics().op_slots_in_use,
            0,
            "abandoned slots freed at completion"
        );
    });
}
