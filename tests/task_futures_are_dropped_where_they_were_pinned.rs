//! A task's future is pinned in its task from its first poll to its drop: `Pin` promises that
//! its memory is not reused before its destructor ran *in place*. Aborting the task, shutting
//! its runtime down, and finishing it must all drop the future at the address it was polled at,
//! and a self-referential `async` block (a reference to its own local held across an `.await`,
//! read again by a destructor) must still see its local when it is dropped.

mod common;

use common::Watchdog;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Where the future was polled and where it was dropped.
#[derive(Default)]
struct Addresses {
    polled: Cell<usize>,
    dropped: Cell<usize>,
}

/// A `!Unpin` future that records its own address at every poll and at its drop; pending
/// forever, or ready at its first poll if `ready`.
struct Pinned {
    seen: Rc<Addresses>,
    ready: bool,
    _pin: PhantomPinned,
}

impl Future for Pinned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let at = std::ptr::from_ref::<Self>(&*self) as usize;
        self.seen.polled.set(at);
        if self.ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let at = std::ptr::from_mut::<Self>(self) as usize;
        self.seen.dropped.set(at);
    }
}

fn pinned(ready: bool) -> (Pinned, Rc<Addresses>) {
    let seen = Rc::new(Addresses::default());
    let future = Pinned {
        seen: seen.clone(),
        ready,
        _pin: PhantomPinned,
    };
    (future, seen)
}

fn assert_dropped_in_place(seen: &Addresses, how: &str) {
    assert_ne!(seen.polled.get(), 0, "{how}: the future was never polled");
    assert_ne!(seen.dropped.get(), 0, "{how}: the future was never dropped");
    assert_eq!(
        seen.polled.get(),
        seen.dropped.get(),
        "{how}: the future was polled at {:#x} and dropped at {:#x}: it moved while pinned",
        seen.polled.get(),
        seen.dropped.get()
    );
}

async fn yield_a_few_times() {
    for _ in 0..3 {
        coring::task::yield_now().await;
    }
}

#[test]
fn an_aborted_task_drops_its_future_where_it_was_polled() {
    let _watchdog = Watchdog::new(10, "an_aborted_task_drops_its_future_where_it_was_polled");
    coring::block_on(async {
        let (future, seen) = pinned(false);
        let handle = coring::spawn(future);
        yield_a_few_times().await;
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert_dropped_in_place(&seen, "abort");
    });
}

#[test]
fn shutdown_drops_a_waiting_task_future_where_it_was_polled() {
    let _watchdog = Watchdog::new(
        10,
        "shutdown_drops_a_waiting_task_future_where_it_was_polled",
    );
    let runtime = coring::Runtime::new().unwrap();
    let (future, seen) = pinned(false);
    let _handle = runtime.spawn(future);
    runtime.block_on(yield_a_few_times());
    drop(runtime);
    assert_dropped_in_place(&seen, "shutdown");
}

#[test]
fn a_finished_task_drops_its_future_where_it_was_polled() {
    let _watchdog = Watchdog::new(10, "a_finished_task_drops_its_future_where_it_was_polled");
    coring::block_on(async {
        let (future, seen) = pinned(true);
        coring::spawn(future).await.unwrap();
        assert_dropped_in_place(&seen, "completion");
    });
}

/// Reads its string when dropped: the string is a local of the same `async` block. Moved
/// with its future, it would point at the future's old place, far from its own; unmoved, the two
/// locals are a few bytes apart. (Under Miri, reading the old place is reported as UB.)
struct ReadsOnDrop<'a> {
    text: &'a String,
    read: Rc<RefCell<Option<String>>>,
}

impl Drop for ReadsOnDrop<'_> {
    fn drop(&mut self) {
        let apart =
            (std::ptr::from_ref(self.text) as usize).abs_diff(std::ptr::from_mut(self) as usize);
        assert!(
            apart < 1024,
            "the future moved: a local is dropped {apart} bytes away from the local it points at"
        );
        *self.read.borrow_mut() = Some(self.text.clone());
    }
}

/// A self-referential task: `guard` points at `text`, both locals of the future, across an
/// `.await` that never ends.
async fn self_referential(read: Rc<RefCell<Option<String>>>) {
    let text = String::from("still here");
    let _guard = ReadsOnDrop { text: &text, read };
    std::future::pending::<()>().await;
}

#[test]
fn a_self_referential_task_reads_its_own_local_when_aborted() {
    let _watchdog = Watchdog::new(
        10,
        "a_self_referential_task_reads_its_own_local_when_aborted",
    );
    coring::block_on(async {
        let read = Rc::new(RefCell::new(None));
        let handle = coring::spawn(self_referential(read.clone()));
        yield_a_few_times().await;
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert_eq!(read.borrow().as_deref(), Some("still here"));
    });
}

#[test]
fn a_self_referential_task_reads_its_own_local_at_shutdown() {
    let _watchdog = Watchdog::new(
        10,
        "a_self_referential_task_reads_its_own_local_at_shutdown",
    );
    let read = Rc::new(RefCell::new(None));
    let runtime = coring::Runtime::new().unwrap();
    let _handle = runtime.spawn(self_referential(read.clone()));
    runtime.block_on(yield_a_few_times());
    drop(runtime);
    assert_eq!(read.borrow().as_deref(), Some("still here"));
}
