//! Unit tests of `loss.rs`: the flag's settling, its wake-up, and the other-runtime error.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Wake;

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll(flag: &LossFlag, waker: &Waker) -> Poll<io::Result<()>> {
    flag.poll_ready(&mut Context::from_waker(waker), "read")
}

#[test]
fn a_clean_flag_is_ready_at_once() {
    let flag = LossFlag::default();
    let waker = Waker::noop();
    assert!(matches!(poll(&flag, waker), Poll::Ready(Ok(()))));
    // A watch that was never abandoned holds nothing back.
    drop(flag.watch());
    assert!(matches!(poll(&flag, waker), Poll::Ready(Ok(()))));
}

#[test]
fn an_abandoned_op_holds_the_next_one_until_its_data_goes() {
    // Inside a runtime: the one the op is abandoned in, and the one that waits.
    crate::block_on(async {
        let flag = LossFlag::default();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut watch = flag.watch();
        watch.abandoned(&driver::current_weak());
        watch.abandoned(&driver::current_weak()); // idempotent
        assert!(poll(&flag, &waker).is_pending());
        assert!(poll(&flag, &waker).is_pending()); // registered once
        watch.record(&CqeResult::from_raw(-libc::ECANCELED, 0));
        drop(watch);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(matches!(poll(&flag, &waker), Poll::Ready(Ok(()))));
    });
}

#[test]
fn an_op_abandoned_in_another_runtime_fails_the_next_one_at_once() {
    let flag = LossFlag::default();
    let mut watch = flag.watch();
    crate::block_on(async { watch.abandoned(&driver::current_weak()) });
    // That runtime is gone from this thread (it would finish the op when dropped; here the
    // watch outlives it): waiting in another one, or in none, would never end.
    let other = crate::block_on(async { poll(&flag, Waker::noop()) });
    let Poll::Ready(Err(err)) = other else {
        panic!("expected the other-runtime error");
    };
    assert!(err.to_string().contains("another runtime"), "{err}");
    // Settled, the flag is usable anywhere again.
    watch.settle();
    assert!(matches!(poll(&flag, Waker::noop()), Poll::Ready(Ok(()))));
    drop(watch);
    assert!(matches!(poll(&flag, Waker::noop()), Poll::Ready(Ok(()))));
}

#[test]
fn bytes_moved_by_an_abandoned_op_fail_every_later_op() {
    let flag = LossFlag::default();
    let mut watch = flag.watch();
    watch.abandoned(&driver::current_weak());
    watch.record(&CqeResult::from_raw(5, 0));
    drop(watch);
    let Poll::Ready(Err(err)) = poll(&flag, Waker::noop()) else {
        panic!("expected the loss error");
    };
    assert!(err.to_string().contains("byte stream has a gap"), "{err}");
    assert!(flag.is_set());
}

#[test]
fn two_abandoned_ops_settle_when_both_are_gone() {
    crate::block_on(async {
        let flag = LossFlag::default();
        let (mut a, mut b) = (flag.watch(), flag.watch());
        a.abandoned(&driver::current_weak());
        b.abandoned(&driver::current_weak());
        drop(a);
        assert!(poll(&flag, Waker::noop()).is_pending());
        drop(b);
        assert!(poll(&flag, Waker::noop()).is_ready());
    });
}
