//! `join_all` (the seed's `asyncio.wait`) returns the outputs in the order of its inputs, however
//! the futures finish: spawned tasks (100,000 of them), plain async blocks, a mixture of ready and
//! sleeping ones, and none at all.

use coring::task::{join_all, yield_now};
use coring::time::sleep;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

/// Aborts the process if still alive after `limit`: a hang becomes a failure, not a stuck suite.
struct Watchdog {
    _alive: Sender<()>,
}

fn watchdog(what: &'static str, limit: Duration) -> Watchdog {
    let (alive, done) = channel::<()>();
    std::thread::spawn(move || {
        if done.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
            eprintln!("watchdog: `{what}` still runs after {limit:?}: a hang; aborting");
            std::process::abort();
        }
    });
    Watchdog { _alive: alive }
}

#[test]
fn a_hundred_thousand_spawned_tasks_are_joined_in_order() {
    let _watchdog = watchdog(
        "a_hundred_thousand_spawned_tasks_are_joined_in_order",
        Duration::from_secs(60),
    );
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
        assert_eq!(runtime.live_tasks(), TASKS as usize);
        join_all(handles).await
    });
    assert_eq!(outputs.len(), TASKS as usize);
    for (i, output) in outputs.into_iter().enumerate() {
        assert_eq!(output.unwrap(), i as u64 * 2, "output {i}");
    }
    assert_eq!(runtime.live_tasks(), 0);
}

#[test]
fn plain_async_blocks_finishing_in_reverse_come_back_in_input_order() {
    let _watchdog = watchdog(
        "plain_async_blocks_finishing_in_reverse_come_back_in_input_order",
        Duration::from_secs(10),
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
    let _watchdog = watchdog(
        "a_mixture_of_ready_yielding_and_sleeping_futures",
        Duration::from_secs(10),
    );
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
