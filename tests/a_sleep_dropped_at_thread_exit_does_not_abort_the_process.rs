//! A `Sleep` dropped by a thread-local's destructor, after coring's own thread-locals are gone,
//! must not abort the process ("thread local panicked on drop"): neither a sleep kept in a
//! `thread_local!` itself, nor the sleeping task of a runtime put into one after it was made
//! (the runtime docs promise such a runtime "shuts down with no runtime current").
//!
//! Each scenario runs in a child process, since the failure is an abort.

mod common;

use common::process::{expect_child_prints, is_child};
use coring::time::{sleep, Sleep};
use coring::Runtime;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Duration;

const CHILD: &str = "CORING_SLEEP_TLS_EXIT_CHILD";

/// Runs test `name` in a child process and checks its thread got to its end and the child
/// exited cleanly.
fn in_child(name: &str) {
    expect_child_prints(name, &[(CHILD, "1")], "survived");
}

#[test]
fn a_registered_sleep_kept_in_a_thread_local_is_dropped_cleanly_at_thread_exit() {
    if !is_child(CHILD) {
        return in_child(
            "a_registered_sleep_kept_in_a_thread_local_is_dropped_cleanly_at_thread_exit",
        );
    }
    thread_local! {
        // Touched before the runtime is made, so destroyed after coring's own slots.
        static KEPT: RefCell<Option<Pin<Box<Sleep>>>> = const { RefCell::new(None) };
    }
    std::thread::spawn(|| {
        KEPT.with(|_| {});
        let runtime = Runtime::new().unwrap();
        let mut sleeping = Box::pin(sleep(Duration::from_secs(3600)));
        runtime.block_on(async {
            // One poll registers it with the runtime's timers.
            let mut cx = Context::from_waker(Waker::noop());
            assert!(sleeping.as_mut().poll(&mut cx).is_pending());
        });
        drop(runtime);
        KEPT.with(|kept| *kept.borrow_mut() = Some(sleeping));
    })
    .join()
    .unwrap();
    println!("survived");
}

#[test]
fn a_runtime_with_a_sleeping_task_put_into_a_thread_local_later_is_dropped_at_thread_exit() {
    if !is_child(CHILD) {
        return in_child(
            "a_runtime_with_a_sleeping_task_put_into_a_thread_local_later_is_dropped_at_thread_exit",
        );
    }
    thread_local! {
        static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    }
    std::thread::spawn(|| {
        RUNTIME.with(|slot| {
            let mut slot = slot.borrow_mut();
            let runtime = slot.insert(Runtime::new().unwrap());
            runtime.spawn(sleep(Duration::from_secs(3600)));
            // Long enough for the spawned task to run and register its sleep.
            runtime.block_on(sleep(Duration::from_millis(20)));
            assert_eq!(
                runtime.metrics().pending_timers,
                1,
                "the task's sleep is registered"
            );
        })
    })
    .join()
    .unwrap();
    println!("survived");
}
