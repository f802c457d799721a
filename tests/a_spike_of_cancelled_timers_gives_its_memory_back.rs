//! The timer store gives memory back after a spike: a million sleeps registered and then
//! cancelled must not leave tens of megabytes in use while a single timer is still pending.

mod common;

use common::{CountingAlloc, HeapSnapshot, Watchdog};
use coring::time::{sleep, Sleep};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

#[global_allocator]
static A: CountingAlloc = CountingAlloc::new();

/// Registers `n` sleeps an hour away (one poll each) and cancels them all.
async fn spike(n: usize) {
    let mut sleeps: Vec<Sleep> = (0..n).map(|_| sleep(Duration::from_secs(3600))).collect();
    poll_fn(|cx| {
        for sleep in &mut sleeps {
            assert!(Pin::new(sleep).poll(cx).is_pending());
        }
        Poll::Ready(())
    })
    .await;
    drop(sleeps);
}

#[test]
fn a_million_cancelled_timers_leave_no_megabytes_behind_while_one_is_pending() {
    let _watchdog = Watchdog::new(60, "a_million_cancelled_timers_leave_no_megabytes_behind");
    assert!(CountingAlloc::installed());
    let runtime = coring::Runtime::new().unwrap();
    let kept = runtime.block_on(async {
        // Pending before, during and after the spike; also pending ones made during it.
        let mut before = Box::pin(sleep(Duration::from_secs(3600)));
        poll_fn(|cx| Poll::Ready(before.as_mut().poll(cx).is_pending())).await;
        // Let the store reach its steady size first.
        spike(1_000).await;
        let baseline = HeapSnapshot::now();
        spike(500_000).await;
        let mut during = Box::pin(sleep(Duration::from_secs(3600)));
        poll_fn(|cx| Poll::Ready(during.as_mut().poll(cx).is_pending())).await;
        spike(500_000).await;
        // A few loop turns, as a running program would have.
        for _ in 0..3 {
            sleep(Duration::from_millis(2)).await;
        }
        let (bytes, _) = HeapSnapshot::now().since(&baseline);
        drop((before, during));
        bytes
    });
    eprintln!("after a spike of a million cancelled timers, {kept} bytes stay in use");
    assert_eq!(runtime.metrics().pending_timers, 0);
    assert!(
        kept < 1 << 20,
        "{kept} bytes still held by the timer store after the spike"
    );
}
