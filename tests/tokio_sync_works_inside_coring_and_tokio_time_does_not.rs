//! What the README says of the tokio ecosystem inside coring, checked: `tokio::sync` needs no
//! tokio runtime (a `Mutex`, `Notify` and `mpsc` between coring tasks work), while
//! `tokio::time` needs tokio's timer driver and panics without it, so coring code uses
//! `coring::time` (or `compat::hyper::HyperTimer` for hyper) instead.

use std::rc::Rc;
use std::time::Duration;

#[coring::test]
async fn tokio_sync_works_between_coring_tasks() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(2);
    let notify = Rc::new(tokio::sync::Notify::new());
    let total = Rc::new(tokio::sync::Mutex::new(0));
    let consumer = {
        let (notify, total) = (notify.clone(), total.clone());
        coring::spawn(async move {
            while let Some(n) = rx.recv().await {
                *total.lock().await += n;
            }
            notify.notify_one();
        })
    };
    for n in 1..=100 {
        tx.send(n).await.unwrap();
    }
    drop(tx);
    notify.notified().await;
    consumer.await.unwrap();
    assert_eq!(*total.lock().await, 5050);
}

#[test]
fn tokio_time_panics_inside_coring_for_lack_of_its_driver() {
    let outcome = std::panic::catch_unwind(|| {
        coring::block_on(async { tokio::time::sleep(Duration::from_millis(1)).await })
    });
    let panic = outcome.expect_err("tokio::time cannot run without a tokio runtime");
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("no reactor running"), "{message}");
}
