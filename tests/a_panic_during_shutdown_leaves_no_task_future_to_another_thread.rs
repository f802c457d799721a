//! Runtime shutdown runs user code (futures' and wakers' destructors) and must get to its end
//! even if some of it panics: a task it left behind would be freed by whichever thread drops
//! its last waker, dropping a `!Send` future (here one holding an `Rc`) on that thread.

mod common;

use common::Watchdog;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

/// Records the thread it is dropped on.
struct DropThread(Arc<Mutex<Option<ThreadId>>>);

impl Drop for DropThread {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(std::thread::current().id());
    }
}

/// A joiner's waker whose destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a joiner's waker panics when dropped at shutdown");
    }
}

struct JoinerWaker(#[allow(dead_code)] PanicsOnDrop);

impl Wake for JoinerWaker {
    fn wake(self: Arc<Self>) {}
}

/// Sends its waker to another thread once, then waits forever holding an `Rc`.
struct SendsItsWaker {
    to: Option<Sender<Waker>>,
    _rc: Rc<()>,
    _dropped: DropThread,
}

impl Future for SendsItsWaker {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(to) = self.to.take() {
            to.send(cx.waker().clone()).unwrap();
        }
        Poll::Pending
    }
}

#[test]
fn an_rc_holding_future_is_dropped_on_its_own_thread_despite_a_panic_at_shutdown() {
    let _watchdog = Watchdog::new(
        20,
        "an_rc_holding_future_is_dropped_on_its_own_thread_despite_a_panic_at_shutdown",
    );
    let dropped_on = Arc::new(Mutex::new(None));
    let (waker_tx, waker_rx) = channel::<Waker>();
    let (go_tx, go_rx) = channel::<()>();
    // Holds the task's waker until the runtime is gone, then drops it.
    let helper = std::thread::spawn(move || {
        let waker = waker_rx.recv().unwrap();
        go_rx.recv().unwrap();
        drop(waker);
    });
    let runtime = coring::Runtime::new().unwrap();
    // Spawned first, so shutdown meets its joiner's panicking waker first.
    let mut waiting = runtime.spawn(std::future::pending::<()>());
    let rc = Rc::new(());
    let _holder = runtime.spawn(SendsItsWaker {
        to: Some(waker_tx),
        _rc: rc.clone(),
        _dropped: DropThread(dropped_on.clone()),
    });
    runtime.block_on(async {
        coring::task::yield_now().await;
        let joiner = Waker::from(Arc::new(JoinerWaker(PanicsOnDrop)));
        let polled = Pin::new(&mut waiting).poll(&mut Context::from_waker(&joiner));
        assert!(polled.is_pending());
    });
    let shutdown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(runtime)));
    go_tx.send(()).unwrap();
    helper.join().unwrap();
    assert!(shutdown.is_ok(), "a panic escaped the runtime's shutdown");
    assert_eq!(
        *dropped_on.lock().unwrap(),
        Some(std::thread::current().id()),
        "the Rc-holding future was not dropped on its own thread at shutdown"
    );
    assert_eq!(Rc::strong_count(&rc), 1);
}
