//! A submission queue of two entries carries 600 concurrent operations: a full queue is flushed
//! and the push retried, never an error, a panic or a lost operation (tokio-uring's
//! `too_many_submissions`, liburing's `sq-full`).

mod common;

use common::Watchdog;

const OPS: usize = 600;

#[test]
fn six_hundred_spawned_nops_all_succeed() {
    if common::skip::io_uring_only("six_hundred_spawned_nops_all_succeed") {
        return;
    }
    let _watchdog = Watchdog::new(30, "six_hundred_spawned_nops_all_succeed");
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let before = runtime.metrics();
    let results = runtime.block_on(async {
        let handles: Vec<_> = (0..OPS)
            .map(|_| coring::spawn(coring::runtime::nop()))
            .collect();
        coring::task::join_all(handles).await
    });
    assert_eq!(results.len(), OPS);
    for (i, result) in results.into_iter().enumerate() {
        let op = result.unwrap_or_else(|e| panic!("task {i} failed: {e}"));
        op.unwrap_or_else(|e| panic!("nop {i} failed: {e}"));
    }
    let stats = runtime.metrics();
    assert!(
        stats.sqes_submitted - before.sqes_submitted >= OPS as u64,
        "every nop was pushed: {before:?} -> {stats:?}"
    );
    assert!(
        stats.completions - before.completions >= OPS as u64,
        "every nop was reaped: {before:?} -> {stats:?}"
    );
    // Two entries per submit: at least OPS / 2 calls into the kernel.
    assert!(
        stats.enters - before.enters >= (OPS / 2) as u64,
        "a 2-entry queue needs at least {} enters: {before:?} -> {stats:?}",
        OPS / 2
    );
    assert_eq!(runtime.metrics().ops_in_flight, 0);
    assert_eq!(runtime.metrics().op_slots_in_use, 0);
    assert_eq!(runtime.metrics().live_tasks, 0);
}

#[test]
fn six_hundred_nops_polled_in_one_turn_from_one_task_all_succeed() {
    if common::skip::io_uring_only("six_hundred_nops_polled_in_one_turn_from_one_task_all_succeed")
    {
        return;
    }
    let _watchdog = Watchdog::new(
        30,
        "six_hundred_nops_polled_in_one_turn_from_one_task_all_succeed",
    );
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let results = runtime
        .block_on(async { coring::task::join_all((0..OPS).map(|_| coring::runtime::nop())).await });
    assert_eq!(results.len(), OPS);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(runtime.metrics().sqes_submitted >= OPS as u64);
    assert_eq!(runtime.metrics().op_slots_in_use, 0);
}

#[test]
fn tasks_doing_nops_back_to_back_through_a_two_entry_queue() {
    if common::skip::io_uring_only("tasks_doing_nops_back_to_back_through_a_two_entry_queue") {
        return;
    }
    let _watchdog = Watchdog::new(
        30,
        "tasks_doing_nops_back_to_back_through_a_two_entry_queue",
    );
    let runtime = coring::Builder::new().entries(2).build().unwrap();
    let done = runtime.block_on(async {
        let handles: Vec<_> = (0..60)
            .map(|_| {
                coring::spawn(async {
                    for _ in 0..10 {
                        coring::runtime::nop().await.unwrap();
                    }
                    10
                })
            })
            .collect();
        coring::task::join_all(handles)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum::<usize>()
    });
    assert_eq!(done, OPS);
    assert!(runtime.metrics().sqes_submitted >= OPS as u64);
    assert_eq!(runtime.metrics().op_slots_in_use, 0);
}
