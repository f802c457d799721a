//! `join_all` (the seed's `asyncio.wait`) returns the outputs in the order of its inputs, however
//! the futures finish: spawned tasks (100,000 of them), plain async blocks, a mixture of ready and
//! sleeping ones, and none at all.

mod common;

use common::Watchdog;
use coring::task::{join_all, yield_now};
use coring::time::sleep;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn a_hundred_thousand_spawned_tasks_are_joined_in_order() {
    let _watchdog = Watchdog::new(60, "a_hundred_thousand_spawned_tasks_are_joined_in_order");
    const TASKS: u64 = 100_000;
    let runtime = coring::Runtime::new().unwrap();
    let outputs = runtime.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                coring::spawn(async move {
                    // Finish in a scrambled order: some at once, some after a few yields.
                    for _ in 0..(i * 7919) % 4 {
                        yield_now().await;
                    }
                    i * 2
                })
            })
            .collect();
        assert_eq!(runtime.metrics().live_tasks, TASKS as usize);
        join_all(handles).await
    });
    assert_eq!(outputs.len(), TASKS as usize);
    for (i, output) in outputs.into_iter().enumerate() {
        assert_eq!(output.unwrap(), i as u64 * 2, "output {i}");
    }
    assert_eq!(runtime.metrics().live_tasks, 0);
}

#[test]
fn plain_async_blocks_finishing_in_reverse_come_back_in_input_order() {
    let _watchdog = Watchdog::new(
        10,
        "plain_async_blocks_finishing_in_reverse_come_back_in_input_order",
    );
    let runtime = coring::Runtime::new().unwrap();
    let finished = Rc::new(RefCell::new(Vec::new()));
    let outputs = runtime.block_on(async {
        let futures = (0..10u64).map(|i| {
            let finished = finished.clone();
            async move {
                // The first input sleeps longest.
                sleep(Duration::from_millis((10 - i) * 3)).await;
                finished.borrow_mut().push(i);
                format!("#{i}")
            }
        });
        join_all(futures).await
    });
    assert_eq!(
        outputs,
        (0..10).map(|i| format!("#{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        *finished.borrow(),
        (0..10).rev().collect::<Vec<_>>(),
        "they really finished in reverse"
    );
}

#[test]
fn a_mixture_of_ready_yielding_and_sleeping_futures() {
    let _watchdog = Watchdog::new(10, "a_mixture_of_ready_yielding_and_sleeping_futures");
    let runtime = coring::Runtime::new().unwrap();
    let outputs = runtime.block_on(async {
        let futures = (0..300u32).map(|i| async move {
            match i % 3 {
                0 => {}
                1 => yield_now().await,
                _ => sleep(Duration::from_millis(u64::from(i % 7))).await,
            }
            i
        });
        join_all(futures).await
    });
    assert_eq!(outputs, (0..300).collect::<Vec<_>>());
}

#[test]
fn joining_nothing_gives_an_empty_vec() {
    let runtime = coring::Runtime::new().unwrap();
    let outputs: Vec<u8> =
        runtime.block_on(async { join_all(Vec::<std::future::Ready<u8>>::new()).await });
    assert!(outputs.is_empty());
}

#[test]
fn join_all_of_join_handles_reports_each_task_in_its_place() {
    let runtime = coring::Runtime::new().unwrap();
    let outputs = runtime.block_on(async {
        let handles: Vec<_> = (0..5u32)
            .map(|i| {
                coring::spawn(async move {
                    yield_now().await;
                    if i == 2 {
                        panic!("task 2 fails");
                    }
                    i
                })
            })
            .collect();
        join_all(handles).await
    });
    for (i, output) in outputs.into_iter().enumerate() {
        match output {
            Ok(v) => assert_eq!(v as usize, i),
            Err(e) => {
                assert_eq!(i, 2, "only task 2 panics");
                assert!(e.is_panic());
            }
        }
    }
}
