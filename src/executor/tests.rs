//! The executor driven by a plain loop, without io_uring: these tests run natively and under
//! Miri (`ci/miri`: Stacked Borrows and the data-race detector check the raw task code).

use super::{set_current, Executor, JoinHandle};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// An executor made current on this thread for the test's length.
struct Harness(Rc<Executor>);

impl Harness {
    fn new() -> Harness {
        let executor = Rc::new(Executor::new(None).expect("an eventfd for the executor"));
        set_current(Some(executor.clone()));
        Harness(executor)
    }

    /// Runs ready tasks (and remote wakes) until none is left.
    fn run(&self) {
        loop {
            self.0.drain_remote();
            if !self.0.run_ready(64) && !self.0.has_ready() {
                break;
            }
        }
    }

    /// Polls a handle once with a waker that does nothing.
    fn poll<T>(handle: &mut JoinHandle<T>) -> Poll<Result<T, super::JoinError>> {
        Pin::new(handle).poll(&mut Context::from_waker(Waker::noop()))
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.0.shut_down();
        set_current(None);
    }
}

/// Where the future was polled and where it was dropped.
#[derive(Default)]
struct Addresses {
    polled: Cell<usize>,
    dropped: Cell<usize>,
}

/// A `!Unpin` future, pending forever, that records its address when polled and when dropped.
struct Pinned {
    seen: Rc<Addresses>,
    _pin: PhantomPinned,
}

impl Future for Pinned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        self.seen
            .polled
            .set(std::ptr::from_ref::<Self>(&*self) as usize);
        Poll::Pending
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let at = std::ptr::from_mut::<Self>(self) as usize;
        self.seen.dropped.set(at);
    }
}

fn pinned() -> (Pinned, Rc<Addresses>) {
    let seen = Rc::new(Addresses::default());
    let future = Pinned {
        seen: seen.clone(),
        _pin: PhantomPinned,
    };
    (future, seen)
}

fn assert_dropped_in_place(seen: &Addresses) {
    assert_ne!(seen.polled.get(), 0, "never polled");
    assert_eq!(seen.polled.get(), seen.dropped.get(), "moved while pinned");
}

#[test]
fn abort_drops_the_future_in_place() {
    let harness = Harness::new();
    let (future, seen) = pinned();
    let mut handle = harness.0.spawn(future);
    harness.run();
    handle.abort();
    harness.run();
    assert_dropped_in_place(&seen);
    assert!(matches!(Harness::poll(&mut handle), Poll::Ready(Err(e)) if e.is_cancelled()));
}

#[test]
fn shutdown_drops_the_future_in_place() {
    let (future, seen) = pinned();
    {
        let harness = Harness::new();
        let _handle = harness.0.spawn(future);
        harness.run();
    }
    assert_dropped_in_place(&seen);
}

/// Reads its string when dropped; the string is a local of the same `async` block.
struct ReadsOnDrop<'a>(&'a String, Rc<RefCell<Option<String>>>);

impl Drop for ReadsOnDrop<'_> {
    fn drop(&mut self) {
        *self.1.borrow_mut() = Some(self.0.clone());
    }
}

async fn self_referential(read: Rc<RefCell<Option<String>>>) {
    let text = String::from("still here");
    let _guard = ReadsOnDrop(&text, read);
    std::future::pending::<()>().await;
}

#[test]
fn a_self_referential_future_is_aborted_and_shut_down_in_place() {
    let aborted = Rc::new(RefCell::new(None));
    let shut_down = Rc::new(RefCell::new(None));
    {
        let harness = Harness::new();
        let handle = harness.0.spawn(self_referential(aborted.clone()));
        let _waiting = harness.0.spawn(self_referential(shut_down.clone()));
        harness.run();
        handle.abort();
        harness.run();
    }
    assert_eq!(aborted.borrow().as_deref(), Some("still here"));
    assert_eq!(shut_down.borrow().as_deref(), Some("still here"));
}

/// Pending forever; holds its own task's handle, which its `Drop` polls and drops. Mid-drop the
/// task must look unfinished: no output to take, no stage to drop a second time.
struct HoldsItsOwnHandle(Rc<RefCell<Option<JoinHandle<()>>>>, Rc<Cell<bool>>);

impl Future for HoldsItsOwnHandle {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for HoldsItsOwnHandle {
    fn drop(&mut self) {
        let mut handle = self.0.borrow_mut().take().expect("the handle was stored");
        assert!(
            !handle.is_finished(),
            "finished while its future is dropped"
        );
        assert!(Harness::poll(&mut handle).is_pending());
        drop(handle);
        self.1.set(true);
    }
}

#[test]
fn a_future_touching_its_own_handle_while_dropped_sees_it_unfinished() {
    for abort in [true, false] {
        let dropped = Rc::new(Cell::new(false));
        {
            let harness = Harness::new();
            let slot = Rc::new(RefCell::new(None));
            let handle = harness
                .0
                .spawn(HoldsItsOwnHandle(slot.clone(), dropped.clone()));
            harness.run();
            if abort {
                handle.abort();
            }
            *slot.borrow_mut() = Some(handle);
            harness.run();
            assert_eq!(dropped.get(), abort);
        }
        assert!(dropped.get());
    }
}

/// Records the thread it is dropped on.
struct DropThread(std::sync::Arc<std::sync::Mutex<Option<std::thread::ThreadId>>>);

impl Drop for DropThread {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(std::thread::current().id());
    }
}

/// Panics when dropped (a user's waker or injected work holding it).
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a Drop at shutdown panics");
    }
}

struct PanicsOnDropWaker(#[allow(dead_code)] PanicsOnDrop);

impl std::task::Wake for PanicsOnDropWaker {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// Sends its waker away once, then waits forever holding `_keep` (an `Rc`: `!Send`).
struct SendsItsWaker {
    waker_to: Option<std::sync::mpsc::Sender<Waker>>,
    _keep: (Rc<()>, DropThread),
}

impl Future for SendsItsWaker {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(to) = self.waker_to.take() {
            to.send(cx.waker().clone()).unwrap();
        }
        Poll::Pending
    }
}

#[test]
fn a_panic_during_shutdown_leaves_no_future_to_another_thread() {
    let dropped_on = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (waker_tx, waker_rx) = std::sync::mpsc::channel::<Waker>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        let waker = waker_rx.recv().unwrap();
        go_rx.recv().unwrap();
        drop(waker);
    });
    let harness = Harness::new();
    // Panics at shutdown, twice: injected work that never ran, and a joiner's waker.
    let injected = PanicsOnDrop;
    assert!(harness
        .0
        .shared()
        .inject(Box::new(move || drop(injected)))
        .is_ok());
    let mut first = harness.0.spawn(std::future::pending::<()>());
    let _second = harness.0.spawn(SendsItsWaker {
        waker_to: Some(waker_tx),
        _keep: (Rc::new(()), DropThread(dropped_on.clone())),
    });
    harness.0.run_ready(64);
    let joiner = Waker::from(std::sync::Arc::new(PanicsOnDropWaker(PanicsOnDrop)));
    let polled = Pin::new(&mut first).poll(&mut Context::from_waker(&joiner));
    assert!(polled.is_pending());
    drop(joiner);
    let shutdown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(harness)));
    set_current(None);
    go_tx.send(()).unwrap();
    helper.join().unwrap();
    assert!(shutdown.is_ok(), "a panic escaped the executor's shutdown");
    assert_eq!(
        *dropped_on.lock().unwrap(),
        Some(std::thread::current().id()),
        "the !Send future was not dropped on its own thread at shutdown"
    );
}

/// The backstop: a task whose last reference goes on another thread while its future is still
/// there (a shutdown that did not finish) is leaked, never dropped there. (Leaks on purpose, so
/// not under Miri, which reports leaks.)
#[test]
#[cfg_attr(miri, ignore)]
fn a_task_released_last_on_another_thread_with_its_future_is_leaked() {
    let harness = Harness::new();
    let dropped_on = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = DropThread(dropped_on.clone());
    let (task, handle) = super::raw_task::new_task(
        async move {
            let _keep = keep;
            std::future::pending::<()>().await;
        },
        harness.0.shared().clone(),
    );
    drop(handle);
    std::thread::spawn(move || drop(task)).join().unwrap();
    assert_eq!(
        *dropped_on.lock().unwrap(),
        None,
        "dropped on a foreign thread"
    );
}

/// A task's allocation is its whole cost in memory (1M spawned tasks are 1M of these), and
/// glibc rounds it up in 16-byte steps: keep a small task within 72 bytes, so with malloc's
/// 8-byte header it fits an 80-byte chunk.
#[test]
fn a_small_task_fits_in_an_eighty_byte_chunk() {
    let task = std::mem::size_of::<super::raw_task::TaskCell<std::future::Ready<u64>>>();
    assert!(
        task <= 72,
        "TaskCell<Ready<u64>> is {task} bytes: with malloc's 8-byte header it no longer \
         fits an 80-byte chunk"
    );
}

#[test]
fn queue_entries_and_handles_are_one_pointer() {
    assert_eq!(std::mem::size_of::<super::raw_task::TaskRef>(), 8);
    assert_eq!(std::mem::size_of::<JoinHandle<u64>>(), 8);
}
