//! A server's `main` often never returns, and `fn main() -> !` is stable Rust: so
//! `#[coring::main] async fn main() -> !` (and with `workers = N`) must build and run the body,
//! whose end (a panic or `process::exit`) is the only way out.

use std::panic::catch_unwind;

#[coring::main]
async fn serve_forever() -> ! {
    coring::time::sleep(std::time::Duration::from_millis(1)).await;
    panic!("stopped on purpose");
}

#[coring::main(workers = 2)]
async fn serve_forever_on_every_worker() -> ! {
    coring::task::yield_now().await;
    panic!("stopped on purpose");
}

#[test]
fn a_main_that_never_returns_runs_its_body_on_a_runtime() {
    let stopped = catch_unwind(|| serve_forever()).expect_err("a `-> !` fn returned");
    assert_eq!(
        stopped.downcast_ref::<&str>(),
        Some(&"stopped on purpose"),
        "the body did not run"
    );
}

#[test]
fn a_multi_worker_main_that_never_returns_runs_its_body() {
    // A worker's panic reaches the caller (how is the runtime's business): only that it stops.
    assert!(catch_unwind(|| serve_forever_on_every_worker()).is_err());
}
