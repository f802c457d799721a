//! `MultiRuntime::run_on_all` runs the same async main on every worker: each worker runs it on
//! its own thread (`coring-worker-N`), knows its index, sees handles to all workers, and can
//! spawn local `!Send` tasks there. With `pin_cores(true)` worker N runs on core N (modulo the
//! core count).

mod common;

use common::within;
use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

/// A hang fails the test instead of stalling the suite.
const LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq)]
struct Seen {
    index: usize,
    current: Option<usize>,
    thread: Option<String>,
    handles: Vec<usize>,
}

#[test]
fn run_on_all_returns_each_workers_index_on_its_named_thread() {
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        assert_eq!(
            runtime
                .handles()
                .iter()
                .map(|h| h.index())
                .collect::<Vec<_>>(),
            [0, 1]
        );
        let seen = runtime.run_on_all(|index| async move {
            // Let the workers' mains overlap a little, so both really run at once.
            coring::time::sleep(Duration::from_millis(5)).await;
            Seen {
                index,
                current: coring::runtime::current_worker(),
                thread: std::thread::current().name().map(str::to_owned),
                handles: coring::runtime::workers()
                    .iter()
                    .map(|h| h.index())
                    .collect(),
            }
        });
        let expected: Vec<Seen> = (0..2)
            .map(|i| Seen {
                index: i,
                current: Some(i),
                thread: Some(format!("coring-worker-{i}")),
                handles: vec![0, 1],
            })
            .collect();
        assert_eq!(seen, expected);
    });
}

#[test]
fn every_worker_is_its_own_thread() {
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(3).build_multi().unwrap();
        let ids = runtime.run_on_all(|_| async { format!("{:?}", std::thread::current().id()) });
        assert_eq!(ids.len(), 3);
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 3, "workers share a thread: {ids:?}");
        let outside = format!("{:?}", std::thread::current().id());
        assert!(!distinct.contains(&outside), "a worker ran on the caller");
    });
}

#[test]
fn each_worker_runs_local_not_send_tasks() {
    within(LIMIT, || {
        let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
        let totals = runtime.run_on_all(|index| async move {
            // `Rc` and `Cell`: the main future and its tasks never leave this worker.
            let total = Rc::new(Cell::new(0usize));
            let tasks: Vec<_> = (0..100)
                .map(|n| {
                    let total = total.clone();
                    coring::spawn(async move {
                        coring::task::yield_now().await;
                        assert_eq!(coring::runtime::current_worker(), Some(index));
                        total.set(total.get() + n);
                    })
                })
                .collect();
            for result in coring::task::join_all(tasks).await {
                result.unwrap();
            }
            total.get() + index
        });
        assert_eq!(totals, [4950, 4951]);
    });
}

#[test]
fn outside_a_worker_there_is_no_current_worker() {
    assert_eq!(coring::runtime::current_worker(), None);
    assert!(coring::runtime::workers().is_empty());
    // Nor inside a plain single-core runtime.
    coring::block_on(async {
        assert_eq!(coring::runtime::current_worker(), None);
        assert!(coring::runtime::workers().is_empty());
    });
}

#[test]
fn pinned_workers_run_on_their_own_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    within(LIMIT, move || {
        let runtime = coring::Builder::new()
            .workers(2)
            .pin_cores(true)
            .build_multi()
            .unwrap();
        let allowed = runtime.run_on_all(|_| async { allowed_cpus() });
        for (index, cpus) in allowed.into_iter().enumerate() {
            assert_eq!(
                cpus,
                (index % cores).to_string(),
                "worker {index} may run on cpus {cpus}"
            );
        }
    });
}

/// The calling thread's allowed CPUs, as the kernel lists them ("0", "0-1", ...).
fn allowed_cpus() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/thread-self/status")
        .trim()
        .to_owned()
}
