//! Blocking closures run on the `coring-blocking` pool, and their completion wakes the awaiting
//! task on its own core: many concurrent calls all come back with their values, a panicking
//! closure gives a `JoinError` whose `is_panic` is true, and the runtime's thread keeps serving
//! timers (and everything else) while the closures sleep.

mod common;

use common::within;
use std::thread;
use std::time::{Duration, Instant};

/// A hang fails the test instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(30);

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_owned()
}

#[test]
fn many_concurrent_calls_from_one_runtime_complete_with_their_values() {
    within(LIMIT, || {
        coring::block_on(async {
            let runtime_thread = thread::current().id();
            // From the block_on future itself...
            let handles: Vec<_> = (0..500u64)
                .map(|n| {
                    coring::task::spawn_blocking(move || {
                        if n % 50 == 0 {
                            thread::sleep(Duration::from_millis(5));
                        }
                        (n * n, thread_name())
                    })
                })
                .collect();
            for (n, result) in coring::task::join_all(handles)
                .await
                .into_iter()
                .enumerate()
            {
                let (square, ran_on) = result.unwrap();
                assert_eq!(square, (n * n) as u64);
                assert_eq!(ran_on, "coring-blocking");
            }
            assert_eq!(thread::current().id(), runtime_thread);

            // ...and from many spawned tasks, each resumed on the runtime's thread.
            let tasks: Vec<_> = (0..200u64)
                .map(|n| {
                    coring::spawn(async move {
                        let value = coring::task::spawn_blocking(move || n + 1).await.unwrap();
                        assert_eq!(thread::current().id(), runtime_thread);
                        value
                    })
                })
                .collect();
            let values: Vec<u64> = coring::task::join_all(tasks)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(values, (1..=200).collect::<Vec<_>>());
        });
    });
}

#[test]
fn a_panicking_closure_gives_a_panic_join_error_and_the_runtime_goes_on() {
    within(LIMIT, || {
        coring::block_on(async {
            let err = coring::task::spawn_blocking(|| -> u32 { panic!("blocking boom") })
                .await
                .expect_err("the closure panicked");
            assert!(err.is_panic(), "{err:?}");
            assert!(!err.is_cancelled());
            let payload = err.into_panic();
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"blocking boom"));

            // The pool and the runtime both carry on.
            let after = coring::task::spawn_blocking(|| 42).await.unwrap();
            assert_eq!(after, 42);
        });
    });
}

#[test]
fn the_runtime_thread_is_not_blocked_while_closures_sleep() {
    // Synchronised on events, not on a clock: the four closures meet at a barrier (so they run
    // side by side on four pool threads; run one after another they would never get past it)
    // and then block until the runtime lets them go, which it does only after a timer and ten
    // interval ticks fired on its thread. A runtime thread blocked by the closures, or a pool
    // that ran them in turn, hangs, and `within` turns the hang into a failure.
    use std::sync::{Arc, Barrier, Condvar, Mutex};
    within(LIMIT, || {
        coring::block_on(async {
            let together = Arc::new(Barrier::new(4));
            let released = Arc::new((Mutex::new(false), Condvar::new()));
            let sleepers: Vec<_> = (0..4)
                .map(|i| {
                    let together = together.clone();
                    let released = released.clone();
                    coring::task::spawn_blocking(move || {
                        together.wait();
                        let (lock, cvar) = &*released;
                        let mut go = lock.lock().unwrap();
                        while !*go {
                            go = cvar.wait(go).unwrap();
                        }
                        i
                    })
                })
                .collect();

            // A timer on the runtime fires, never early, while all four block...
            let start = Instant::now();
            coring::time::sleep(Duration::from_millis(50)).await;
            let timer_fired = start.elapsed();
            assert!(
                timer_fired >= Duration::from_millis(50),
                "a 50 ms timer fired after {timer_fired:?}"
            );

            // ...and so does a stream of ticks.
            let mut interval = coring::time::interval(Duration::from_millis(10));
            for _ in 0..10 {
                interval.tick().await;
            }

            let (lock, cvar) = &*released;
            *lock.lock().unwrap() = true;
            cvar.notify_all();
            let done: Vec<_> = coring::task::join_all(sleepers)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(done, [0, 1, 2, 3]);
        });
    });
}

#[test]
fn each_worker_gets_its_own_results_back() {
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let per_worker = runtime.run_on_all(|index| async move {
            let tasks: Vec<_> = (0..100usize)
                .map(|n| {
                    coring::spawn(async move {
                        let value = coring::task::spawn_blocking(move || {
                            thread::sleep(Duration::from_micros(200));
                            index * 1000 + n
                        })
                        .await
                        .unwrap();
                        // The wake came back to this task's own core.
                        assert_eq!(coring::runtime::current_worker(), Some(index));
                        value
                    })
                })
                .collect();
            coring::task::join_all(tasks)
                .await
                .into_iter()
                .map(Result::unwrap)
                .sum::<usize>()
        });
        let expected = |index: usize| (0..100).map(|n| index * 1000 + n).sum::<usize>();
        assert_eq!(per_worker, [expected(0), expected(1)]);
    });
}

#[test]
fn a_dropped_handle_detaches_and_the_closure_still_runs() {
    within(LIMIT, || {
        let (tx, rx) = std::sync::mpsc::channel();
        coring::block_on(async move {
            drop(coring::task::spawn_blocking(move || {
                thread::sleep(Duration::from_millis(20));
                tx.send("ran").unwrap();
            }));
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("ran"));
    });
}
