//! A task that panics — while polled, after an await, or in a destructor — ends with a
//! `JoinError` whose `is_panic()` is true, carrying the payload. The other tasks keep running
//! and `block_on` returns normally.

mod common;

use common::Watchdog;
use coring::time::sleep;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

fn message(err: coring::task::JoinError) -> String {
    assert!(err.is_panic(), "{err:?}");
    assert!(!err.is_cancelled(), "{err:?}");
    let payload = err.into_panic();
    payload
        .downcast_ref::<&'static str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Panics when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A hand-written future that is ready at once and panics when dropped afterwards.
struct ReadyThenPanicOnDrop {
    _guard: PanicOnDrop,
}

impl Future for ReadyThenPanicOnDrop {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(5)
    }
}

/// A task that ticks every 5 ms until told to stop; counts its ticks.
fn ticker(ticks: Rc<Cell<u32>>, stop: Rc<Cell<bool>>) -> coring::task::JoinHandle<()> {
    coring::spawn(async move {
        while !stop.get() {
            sleep(Duration::from_millis(5)).await;
            ticks.set(ticks.get() + 1);
        }
    })
}

#[test]
fn a_panicking_task_gives_is_panic_and_the_others_go_on() {
    let _watchdog = Watchdog::new(10, "a_panicking_task_gives_is_panic_and_the_others_go_on");
    let runtime = coring::Runtime::new().unwrap();
    let returned = runtime.block_on(async {
        let ticks = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        let ticking = ticker(ticks.clone(), stop.clone());

        let at_once = coring::spawn(async { panic!("boom at first poll") });
        let later = coring::spawn(async {
            sleep(Duration::from_millis(20)).await;
            if ticks_forever() {
                panic!("boom after an await");
            }
            1u32
        });
        let fine = coring::spawn(async {
            sleep(Duration::from_millis(30)).await;
            "fine"
        });

        assert_eq!(message(at_once.await.unwrap_err()), "boom at first poll");
        assert_eq!(message(later.await.unwrap_err()), "boom after an await");
        let before = ticks.get();
        assert_eq!(fine.await.unwrap(), "fine");
        sleep(Duration::from_millis(30)).await;
        assert!(
            ticks.get() > before,
            "the ticker kept running after the panics"
        );
        stop.set(true);
        ticking.await.unwrap();
        "returned normally"
    });
    assert_eq!(returned, "returned normally");
    assert_eq!(runtime.metrics().live_tasks, 0);
    assert_eq!(runtime.metrics().pending_timers, 0);
}

/// Always true, but the compiler cannot tell, so the code after the panic is not dead.
fn ticks_forever() -> bool {
    std::hint::black_box(true)
}

#[test]
fn a_detached_panicking_task_does_not_disturb_the_runtime() {
    let _watchdog = Watchdog::new(10, "a_detached_panicking_task_does_not_disturb_the_runtime");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        for _ in 0..10 {
            drop(coring::spawn(async {
                coring::task::yield_now().await;
                panic!("nobody is watching");
            }));
        }
        sleep(Duration::from_millis(10)).await;
        assert_eq!(coring::spawn(async { 3 }).await.unwrap(), 3);
    });
    assert_eq!(runtime.metrics().live_tasks, 0);
}

#[test]
fn a_panic_in_a_local_destructor_at_the_end_of_the_task_is_a_join_error() {
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let handle = coring::spawn(async {
            let _guard = PanicOnDrop("drop of a local panicked");
            coring::task::yield_now().await;
            9
        });
        assert_eq!(
            message(handle.await.unwrap_err()),
            "drop of a local panicked"
        );
        assert_eq!(coring::spawn(async { 4 }).await.unwrap(), 4);
    });
}

#[test]
fn a_future_whose_drop_panics_after_it_finished_is_a_join_error() {
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let handle = coring::spawn(ReadyThenPanicOnDrop {
            _guard: PanicOnDrop("drop of a finished future panicked"),
        });
        assert_eq!(
            message(handle.await.unwrap_err()),
            "drop of a finished future panicked"
        );
        assert_eq!(coring::spawn(async { 4 }).await.unwrap(), 4);
    });
    assert_eq!(runtime.metrics().live_tasks, 0);
}

#[test]
fn aborting_a_task_whose_future_panics_on_drop_does_not_take_down_block_on() {
    let _watchdog = Watchdog::new(
        10,
        "aborting_a_task_whose_future_panics_on_drop_does_not_take_down_block_on",
    );
    let runtime = coring::Runtime::new().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let handle = coring::spawn(async {
                let _guard = PanicOnDrop("drop of an aborted future panicked");
                std::future::pending::<()>().await;
            });
            coring::task::yield_now().await;
            handle.abort();
            let err = handle.await.unwrap_err();
            assert!(
                err.is_cancelled() || err.is_panic(),
                "an aborted task ends with a JoinError: {err:?}"
            );
            coring::spawn(async { 4 }).await.unwrap()
        })
    }));
    match outcome {
        Ok(value) => assert_eq!(value, 4),
        Err(payload) => panic!(
            "block_on itself panicked (the destructor's panic escaped the executor): {:?}",
            payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
        ),
    }
}

#[test]
fn a_panicking_drop_at_runtime_shutdown_does_not_stop_the_others_being_dropped() {
    let _watchdog = Watchdog::new(
        10,
        "a_panicking_drop_at_runtime_shutdown_does_not_stop_the_others_being_dropped",
    );
    let dropped = Rc::new(Cell::new(0));
    struct Count(Rc<Cell<u32>>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        for i in 0..10 {
            let count = Count(dropped.clone());
            coring::spawn(async move {
                let _count = count;
                let _guard = (i % 3 == 0).then_some(PanicOnDrop("drop at shutdown panicked"));
                std::future::pending::<()>().await;
            });
        }
        coring::task::yield_now().await;
    });
    drop(runtime);
    assert_eq!(dropped.get(), 10, "every task's future was dropped");
}

#[test]
fn a_detached_task_whose_output_panics_on_drop_does_not_take_down_block_on() {
    let _watchdog = Watchdog::new(
        10,
        "a_detached_task_whose_output_panics_on_drop_does_not_take_down_block_on",
    );
    let runtime = coring::Runtime::new().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            // Nobody will read the output, so the executor drops it when the task finishes.
            drop(coring::spawn(async {
                coring::task::yield_now().await;
                PanicOnDrop("drop of an unread output panicked")
            }));
            for _ in 0..5 {
                coring::task::yield_now().await;
            }
            coring::spawn(async { 4 }).await.unwrap()
        })
    }));
    match outcome {
        Ok(value) => assert_eq!(value, 4),
        Err(payload) => panic!(
            "block_on itself panicked (the output's destructor panic escaped the executor): {:?}",
            payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
        ),
    }
}
