//! A task's memory is reference-counted by its run-queue entries, its registry slot, its wakers
//! and its `JoinHandle`, and whichever goes last frees it: a joiner, the executor, shutdown, or a
//! waker dropped on another thread after the runtime is gone. Every way a task can end is driven
//! here, and the test checks that each future and output is dropped exactly once, always on the
//! task's own thread, and that the heap comes back to where it was (no task leaked, none freed
//! twice: a double free aborts the process under glibc's checks, a leak shows in the counts).

mod common;

use common::{CountingAlloc, HeapSnapshot, Watchdog};
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
static DROPPED_ELSEWHERE: AtomicUsize = AtomicUsize::new(0);

/// Counts its drops, and the ones on a thread other than the one that made it.
struct Tracked(ThreadId);

impl Tracked {
    fn new() -> Tracked {
        MADE.fetch_add(1, SeqCst);
        Tracked(thread::current().id())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, SeqCst);
        if thread::current().id() != self.0 {
            DROPPED_ELSEWHERE.fetch_add(1, SeqCst);
        }
    }
}

/// Sends a clone of its waker once, then stays pending for good (until shutdown drops it).
async fn pending_forever_after_sending_waker(to: mpsc::Sender<Waker>) {
    let _held = Tracked::new();
    let mut sent = false;
    poll_fn(|cx| {
        if !sent {
            sent = true;
            let _ = to.send(cx.waker().clone());
        }
        Poll::<()>::Pending
    })
    .await;
}

const EACH: usize = 200;

fn every_ending(wakers: mpsc::Sender<Waker>) -> Vec<coring::task::JoinHandle<()>> {
    coring::block_on(async move {
        // Joined: the output travels through the task to the handle.
        let handles: Vec<_> = (0..EACH)
            .map(|_| coring::spawn(async { Tracked::new() }))
            .collect();
        for handle in handles {
            drop(handle.await.expect("a joined task gives its output"));
        }

        // Detached before completing: the executor drops the output when it is produced.
        for _ in 0..EACH {
            drop(coring::spawn(async { Tracked::new() }));
        }

        // Detached after completing: dropping the handle drops the stored output.
        let handles: Vec<_> = (0..EACH)
            .map(|_| coring::spawn(async { Tracked::new() }))
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            coring::task::yield_now().await;
        }
        drop(handles);

        // Aborted while pending: the future (holding a Tracked) is dropped, the handle says so.
        let handles: Vec<_> = (0..EACH)
            .map(|_| {
                coring::spawn(async {
                    let _held = Tracked::new();
                    coring::time::sleep(Duration::from_secs(3600)).await;
                })
            })
            .collect();
        coring::task::yield_now().await;
        for handle in &handles {
            handle.abort();
        }
        for handle in handles {
            assert!(handle.await.unwrap_err().is_cancelled());
        }

        // Woken many times by itself, then done.
        let handles: Vec<_> = (0..EACH)
            .map(|_| {
                coring::spawn(async {
                    let held = Tracked::new();
                    for _ in 0..10 {
                        coring::task::yield_now().await;
                    }
                    held
                })
            })
            .collect();
        for handle in handles {
            drop(handle.await.unwrap());
        }

        // Finished while another thread holds its waker: that thread frees it, later. Half are
        // detached at once; the other half are dropped once finished, with their output unread,
        // which must be dropped then, here, not by the other thread when it frees the task.
        let mut finished_unread = Vec::new();
        for i in 0..EACH {
            let wakers = wakers.clone();
            let mut once = false;
            let handle = coring::spawn(poll_fn(move |cx| {
                if !once {
                    once = true;
                    let _ = wakers.send(cx.waker().clone());
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Tracked::new())
            }));
            if i % 2 == 0 {
                drop(handle);
            } else {
                finished_unread.push(handle);
            }
        }
        while !finished_unread.iter().all(|h| h.is_finished()) {
            coring::task::yield_now().await;
        }
        drop(finished_unread);

        // Still pending when the runtime shuts down, with wakers on another thread: shutdown
        // drops the futures here; the wakers, used after the runtime is gone, free the shells,
        // and so do the handles returned out of the runtime and dropped after it.
        let mut kept = Vec::new();
        for _ in 0..EACH {
            drop(coring::spawn(pending_forever_after_sending_waker(
                wakers.clone(),
            )));
            kept.push(coring::spawn(pending_forever_after_sending_waker(
                wakers.clone(),
            )));
        }
        coring::task::yield_now().await;
        kept
    })
}

#[test]
fn every_task_is_freed_once_and_its_future_dropped_on_its_own_thread() {
    let _watchdog = Watchdog::new(60, "tasks are freed once wherever the last reference goes");
    assert!(CountingAlloc::installed());
    // Warm up what allocates once per process (thread-locals, the std channel machinery).
    let (tx, rx) = mpsc::channel();
    drop(every_ending(tx));
    drop(rx);
    // The watchdog's thread allocates as it starts (its thread-locals, its first blocking
    // receive): let it reach its wait before the baseline.
    thread::sleep(Duration::from_millis(50));

    let baseline = HeapSnapshot::now();
    let (tx, rx) = mpsc::channel::<Waker>();
    let holder = thread::spawn(move || {
        // Collect every waker while the runtime runs, then use them after it is gone: wake by
        // value, wake by reference, and plain drops, a third each.
        let wakers: Vec<Waker> = rx.iter().collect();
        for (i, waker) in wakers.into_iter().enumerate() {
            match i % 3 {
                0 => waker.wake(),
                1 => {
                    waker.wake_by_ref();
                    drop(waker);
                }
                _ => drop(waker),
            }
        }
    });
    let kept = every_ending(tx);
    assert!(
        kept.iter().all(|h| h.is_finished()),
        "shut down with the runtime"
    );
    drop(kept);
    holder.join().expect("the waker thread");
    let (bytes, allocs) = HeapSnapshot::settle_to(&baseline, Duration::from_secs(2));

    let made = MADE.load(SeqCst);
    assert_eq!(
        DROPPED.load(SeqCst),
        made,
        "every future and output is dropped exactly once"
    );
    assert_eq!(
        DROPPED_ELSEWHERE.load(SeqCst),
        0,
        "futures and outputs are dropped on the thread that spawned them"
    );
    assert_eq!(
        (bytes, allocs),
        (0, 0),
        "the heap is back to where it was: no task leaked"
    );
}
