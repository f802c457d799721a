//! Calling `block_on` from inside a running runtime would stall the outer loop (its tasks, timers
//! and ring would not be serviced while the inner one runs), so it panics at once with a message
//! that says what happened and what to do instead. The outer runtime is unharmed.

mod common;

use common::Watchdog;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The message must say what went wrong and how to fix it.
fn assert_clear(text: &str) {
    assert!(text.contains("block_on"), "names the call: {text}");
    assert!(
        text.contains("inside a running runtime"),
        "says why it is wrong: {text}"
    );
    assert!(
        text.contains("spawn") && text.contains(".await"),
        "says what to do instead: {text}"
    );
}

/// Checks the outer runtime still runs I/O, timers and tasks.
async fn outer_still_works() {
    coring::runtime::nop().await.unwrap();
    coring::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(coring::spawn(async { 1 }).await.unwrap(), 1);
}

#[test]
fn free_block_on_inside_block_on_panics_and_the_outer_runtime_goes_on() {
    let _watchdog = Watchdog::new(
        10,
        "free_block_on_inside_block_on_panics_and_the_outer_runtime_goes_on",
    );
    coring::block_on(async {
        let inner_ran = std::cell::Cell::new(false);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            coring::block_on(async { inner_ran.set(true) })
        }));
        let payload = caught.expect_err("a nested block_on must panic");
        assert_clear(&panic_text(&*payload));
        assert!(!inner_ran.get(), "the inner future never ran");
        outer_still_works().await;
    });
}

#[test]
fn the_same_runtime_nested_in_itself_panics_and_goes_on() {
    let _watchdog = Watchdog::new(10, "the_same_runtime_nested_in_itself_panics_and_goes_on");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let caught = catch_unwind(AssertUnwindSafe(|| runtime.block_on(async { 0 })));
        assert_clear(&panic_text(
            &*caught.expect_err("nested block_on must panic"),
        ));
        outer_still_works().await;
    });
    // And the runtime is still usable from the top level afterwards.
    assert_eq!(runtime.block_on(async { 3 }), 3);
}

#[test]
fn block_on_in_a_spawned_task_is_a_join_error_with_the_message() {
    let _watchdog = Watchdog::new(
        10,
        "block_on_in_a_spawned_task_is_a_join_error_with_the_message",
    );
    coring::block_on(async {
        let err = coring::spawn(async { coring::block_on(async { 0 }) })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_clear(&panic_text(&*err.into_panic()));
        outer_still_works().await;
    });
}

#[test]
#[should_panic(expected = "block_on called from inside a running runtime")]
fn an_uncaught_nested_block_on_propagates_out_of_the_outer_block_on() {
    let _watchdog = Watchdog::new(
        10,
        "an_uncaught_nested_block_on_propagates_out_of_the_outer_block_on",
    );
    coring::block_on(async {
        coring::block_on(async {});
    });
}

#[test]
fn after_the_panic_a_fresh_top_level_block_on_works() {
    let caught = catch_unwind(|| {
        coring::block_on(async {
            coring::block_on(async {});
        })
    });
    assert!(caught.is_err());
    // The thread's "current runtime" was restored on the way out.
    assert_eq!(coring::block_on(async { 7 }), 7);
}
