//! `JoinHandle::abort` drops the task's future (on its own thread, with everything it holds:
//! timers, in-flight operations, `Rc`s), and the handle then gives a `JoinError` whose
//! `is_cancelled()` is true. Aborting a finished task changes nothing.

mod common;

use common::Watchdog;
use coring::time::sleep;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

async fn yield_a_few_times() {
    for _ in 0..3 {
        coring::task::yield_now().await;
    }
}

#[test]
fn aborting_a_sleeping_task_drops_its_future_and_gives_is_cancelled() {
    let _watchdog = Watchdog::new(
        10,
        "aborting_a_sleeping_task_drops_its_future_and_gives_is_cancelled",
    );
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let polled = Rc::new(Cell::new(false));
        let seen = polled.clone();
        let handle = coring::spawn(async move {
            let _flag = flag;
            seen.set(true);
            sleep(Duration::from_secs(3600)).await;
            unreachable!("the sleep never ends");
        });
        yield_a_few_times().await;
        assert!(polled.get(), "the task started and sleeps");
        assert_eq!(runtime.metrics().pending_timers, 1);
        assert!(!handle.is_finished());
        assert_eq!(runtime.metrics().live_tasks, 1);

        handle.abort();
        yield_a_few_times().await;
        assert!(dropped.get(), "abort dropped the future");
        assert!(handle.is_finished());
        assert_eq!(
            runtime.metrics().pending_timers,
            0,
            "its sleep was unregistered"
        );
        assert_eq!(runtime.metrics().live_tasks, 0);
        let err = handle.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(!err.is_panic(), "{err:?}");
    });
}

#[test]
fn the_join_handle_of_an_aborted_task_resolves_without_waiting_for_it() {
    let _watchdog = Watchdog::new(
        10,
        "the_join_handle_of_an_aborted_task_resolves_without_waiting_for_it",
    );
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let handle = coring::spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        coring::task::yield_now().await;
        handle.abort();
        // Awaited straight away: the abort itself must wake the joiner.
        let start = std::time::Instant::now();
        let err = handle.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(dropped.get());
        assert!(start.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn aborting_before_the_first_poll_drops_the_unpolled_future() {
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let polled = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let seen = polled.clone();
        let handle = coring::spawn(async move {
            let _flag = flag;
            seen.set(true);
        });
        handle.abort();
        let err = handle.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(!polled.get(), "an aborted task is never polled");
        assert!(dropped.get());
    });
}

#[test]
fn aborting_a_finished_task_is_a_no_op() {
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let handle = coring::spawn(async { 7 });
        while !handle.is_finished() {
            coring::task::yield_now().await;
        }
        handle.abort();
        handle.abort();
        assert!(handle.is_finished());
        assert_eq!(handle.await.unwrap(), 7, "the output survives a late abort");
    });
}

#[test]
fn is_finished_tracks_a_running_task() {
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let handle = coring::spawn(async {
            sleep(Duration::from_millis(20)).await;
            "done"
        });
        assert!(!handle.is_finished());
        coring::task::yield_now().await;
        assert!(!handle.is_finished(), "still sleeping");
        sleep(Duration::from_millis(40)).await;
        assert!(handle.is_finished());
        assert_eq!(handle.await.unwrap(), "done");
    });
}

#[test]
fn aborting_a_task_with_operations_in_flight_frees_their_slots() {
    let _watchdog = Watchdog::new(
        10,
        "aborting_a_task_with_operations_in_flight_frees_their_slots",
    );
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let handle = coring::spawn(async move {
            let _flag = flag;
            loop {
                let nops = (0..64).map(|_| coring::runtime::nop());
                for result in coring::task::join_all(nops).await {
                    result.unwrap();
                }
            }
        });
        yield_a_few_times().await;
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert!(dropped.get());
        for _ in 0..100 {
            if runtime.metrics().op_slots_in_use == 0 {
                break;
            }
            coring::task::yield_now().await;
        }
        assert_eq!(
            runtime.metrics().op_slots_in_use,
            0,
            "abandoned nops were reaped"
        );
        assert_eq!(runtime.metrics().ops_in_flight, 0);
    });
}

#[test]
fn a_task_can_abort_itself_through_its_own_handle() {
    let _watchdog = Watchdog::new(10, "a_task_can_abort_itself_through_its_own_handle");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let (tx, rx) = coring::sync::oneshot::channel::<coring::task::JoinHandle<()>>();
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let resumed = Rc::new(Cell::new(false));
        let after = resumed.clone();
        let handle = coring::spawn(async move {
            let _flag = flag;
            let me = rx.await.unwrap();
            me.abort();
            // Aborting does not unwind the caller; the future goes at the executor's next look.
            coring::task::yield_now().await;
            after.set(true);
        });
        // The task owns its own handle from now on; watch it through the drop flag.
        tx.send(handle).unwrap();
        for _ in 0..10 {
            coring::task::yield_now().await;
        }
        assert!(dropped.get(), "the self-aborted task's future was dropped");
        assert!(!resumed.get(), "an aborted task is not polled again");
        assert_eq!(runtime.metrics().live_tasks, 0);
    });
}
