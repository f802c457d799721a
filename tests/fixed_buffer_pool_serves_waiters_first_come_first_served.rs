//! `FixedBufPool::take` is documented first come, first served. Before the fix a returned buffer
//! went to whichever task polled first after the wake-up: a waiter queued first was served last,
//! and a task taking and dropping a buffer in a loop starved a queued waiter for as long as it
//! looped (issue 24, item 6).

mod common;

use common::Watchdog;
use coring::buf::FixedBufPool;
use coring::task::yield_now;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

#[test]
fn waiters_get_buffers_in_the_order_they_queued() {
    let _watchdog = Watchdog::new(30, "waiters_get_buffers_in_the_order_they_queued");
    coring::block_on(async {
        let pool = FixedBufPool::new(1, 4096).unwrap();
        let held = pool.try_take().unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut waiters = Vec::new();
        for id in 0..4 {
            let (pool, order) = (pool.clone(), order.clone());
            waiters.push(coring::spawn(async move {
                let buf = pool.take().await;
                order.borrow_mut().push(id);
                yield_now().await;
                drop(buf);
            }));
            yield_now().await; // queued in spawn order
        }
        // The buffer comes back, and this task asks for one straight away, before the woken
        // waiter has run: it arrived last, so it is served last.
        drop(held);
        let buf = pool.take().await;
        order.borrow_mut().push(99);
        drop(buf);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 99]);
    });
}

#[test]
fn a_take_and_drop_loop_cannot_starve_a_queued_waiter() {
    let _watchdog = Watchdog::new(30, "a_take_and_drop_loop_cannot_starve_a_queued_waiter");
    coring::block_on(async {
        let pool = FixedBufPool::new(1, 4096).unwrap();
        let held = pool.try_take().unwrap();
        let served_at = Rc::new(Cell::new(None));
        let loops = Rc::new(Cell::new(0u32));
        let waiter = coring::spawn({
            let (pool, served_at, loops) = (pool.clone(), served_at.clone(), loops.clone());
            async move {
                let _buf = pool.take().await;
                served_at.set(Some(loops.get()));
            }
        });
        yield_now().await; // the waiter is queued
        drop(held);
        // This task never lets go for long: take, drop, take again, 2,000 times.
        for _ in 0..2000 {
            let buf = pool.take().await;
            drop(buf);
            loops.set(loops.get() + 1);
        }
        waiter.await.unwrap();
        let served_at = served_at.get();
        println!("the queued waiter was served after {served_at:?} of 2000 loop iterations");
        assert!(
            matches!(served_at, Some(0..=2)),
            "the queued waiter was starved until iteration {served_at:?}"
        );
    });
}
