//! Work spawned on another worker through its `WorkerHandle` runs there and its result comes
//! back to the caller's core: `Send` futures with `spawn`, `!Send` ones built on the target with
//! `spawn_with`. A panic over there comes back as a `JoinError` whose `is_panic` is true, and the
//! worker goes on; `MultiRuntime::block_on` resumes its future's panic on the calling thread.

mod common;

use common::within;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

/// A hang fails the test instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(30);

fn two_workers() -> coring::runtime::MultiRuntime {
    coring::Builder::new().workers(2).build_multi().unwrap()
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn worker_0_spawns_on_worker_1_and_gets_the_results() {
    within(LIMIT, || {
        let runtime = two_workers();
        let results = runtime.block_on(async {
            assert_eq!(coring::runtime::current_worker(), Some(0));
            let other = coring::runtime::workers()[1].clone();
            let handles: Vec<_> = (0..1000u64)
                .map(|n| {
                    if n % 10 == 0 {
                        // Timers are per core (`Sleep` is not `Send`): build it over there.
                        other.spawn_with(move || async move {
                            coring::time::sleep(Duration::from_millis(1)).await;
                            (n * n, coring::runtime::current_worker())
                        })
                    } else {
                        other.spawn(async move {
                            coring::task::yield_now().await;
                            (n * n, coring::runtime::current_worker())
                        })
                    }
                })
                .collect();
            let mut results = Vec::new();
            for handle in handles {
                results.push(handle.await.unwrap());
            }
            // The caller is still on its own core after awaiting the other's work.
            assert_eq!(coring::runtime::current_worker(), Some(0));
            results
        });
        for (n, (square, worker)) in results.into_iter().enumerate() {
            assert_eq!(square, (n * n) as u64);
            assert_eq!(worker, Some(1), "message {n} ran on the wrong worker");
        }
    });
}

#[test]
fn a_plain_thread_spawns_on_each_worker() {
    within(LIMIT, || {
        let runtime = two_workers();
        let handles: Vec<_> = runtime
            .handles()
            .iter()
            .map(|h| h.spawn(async { coring::runtime::current_worker() }))
            .collect();
        // RemoteJoinHandle is Send: await them on a single-core runtime of this thread.
        let got = coring::block_on(async {
            let mut got = Vec::new();
            for handle in handles {
                got.push(handle.await.unwrap());
            }
            got
        });
        assert_eq!(got, [Some(0), Some(1)]);
    });
}

#[test]
fn spawn_with_runs_a_not_send_future_on_the_other_worker() {
    within(LIMIT, || {
        let runtime = two_workers();
        let (sum, worker) = runtime.block_on(async {
            let other = coring::runtime::workers()[1].clone();
            other
                .spawn_with(|| {
                    // Built on worker 1: `Rc`s and local tasks never cross threads.
                    let total = Rc::new(Cell::new(0u32));
                    let log = Rc::new(RefCell::new(Vec::new()));
                    async move {
                        let tasks: Vec<_> = (1..=10u32)
                            .map(|n| {
                                let total = total.clone();
                                let log = log.clone();
                                coring::spawn(async move {
                                    coring::time::sleep(Duration::from_millis(u64::from(n))).await;
                                    total.set(total.get() + n);
                                    log.borrow_mut().push(n);
                                })
                            })
                            .collect();
                        for result in coring::task::join_all(tasks).await {
                            result.unwrap();
                        }
                        assert_eq!(log.borrow().len(), 10);
                        (total.get(), coring::runtime::current_worker())
                    }
                })
                .await
                .unwrap()
        });
        assert_eq!(sum, 55);
        assert_eq!(worker, Some(1));
    });
}

#[test]
fn a_panic_on_the_other_worker_comes_back_as_a_join_error() {
    within(LIMIT, || {
        let runtime = two_workers();
        runtime.block_on(async {
            let other = coring::runtime::workers()[1].clone();
            let err = other
                .spawn(async {
                    coring::task::yield_now().await;
                    panic!("boom on worker 1");
                })
                .await
                .expect_err("the task panicked");
            assert!(err.is_panic(), "{err:?}");
            assert!(!err.is_cancelled());
            assert_eq!(panic_message(&*err.into_panic()), "boom on worker 1");

            // The same with a !Send future that panics.
            let err = other
                .spawn_with(|| {
                    let local = Rc::new(7);
                    async move {
                        if *local == 7 {
                            panic!("boom with an Rc");
                        }
                    }
                })
                .await
                .expect_err("the task panicked");
            assert!(err.is_panic(), "{err:?}");

            // Worker 1 goes on.
            let after = other
                .spawn(async { coring::runtime::current_worker() })
                .await
                .unwrap();
            assert_eq!(after, Some(1));
        });
    });
}

#[test]
fn multi_runtime_block_on_resumes_the_panic() {
    within(LIMIT, || {
        let runtime = two_workers();
        let panic = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async {
                coring::task::yield_now().await;
                panic!("boom in block_on");
            })
        }))
        .expect_err("block_on resumes the panic");
        assert_eq!(panic_message(&*panic), "boom in block_on");
        // The runtime is still usable afterwards.
        assert_eq!(runtime.block_on(async { 40 + 2 }), 42);
        let outputs = runtime.run_on_all(|index| async move { index * 10 });
        assert_eq!(outputs, [0, 10]);
    });
}

#[test]
fn run_on_all_resumes_a_panic_of_one_workers_main() {
    within(LIMIT, || {
        let runtime = two_workers();
        let panic = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.run_on_all(|index| async move {
                if index == 1 {
                    panic!("boom in main {index}");
                }
                index
            })
        }))
        .expect_err("run_on_all resumes the panic");
        assert_eq!(panic_message(&*panic), "boom in main 1");
        assert_eq!(runtime.run_on_all(|index| async move { index }), [0, 1]);
    });
}
