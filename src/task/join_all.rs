//! `join_all`: await many futures at once (the seed's `asyncio.wait`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Runs all `futures` concurrently and returns their outputs in the same order.
///
/// Each child gets its own waker, so a wake re-polls only the child that was woken: joining a
/// million futures costs a million polls, not a million squared.
///
/// ```
/// use std::time::Duration;
/// coring::block_on(async {
///     let sleeps = (1..=3u64).map(|n| async move {
///         coring::time::sleep(Duration::from_millis(n)).await;
///         n
///     });
///     assert_eq!(coring::task::join_all(sleeps).await, vec![1, 2, 3]);
/// });
/// ```
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let children: Vec<Child<I::Item>> = futures
        .into_iter()
        .map(|f| Child::Pending(Box::pin(f)))
        .collect();
    let ready = Arc::new(ReadySet {
        woken: Mutex::new((0..children.len()).collect()),
        queued: (0..children.len()).map(|_| AtomicBool::new(true)).collect(),
        parent: Mutex::new(None),
    });
    JoinAll {
        remaining: children.len(),
        children,
        wakers: Vec::new(),
        ready,
    }
}

enum Child<F: Future> {
    Pending(Pin<Box<F>>),
    Done(F::Output),
    Taken,
}

/// Children woken since the last poll, and the parent's waker.
struct ReadySet {
    /// Each child at most once, however often it was woken: its `queued` flag says whether it
    /// is in the list, so the list never outgrows the children and a child woken a hundred
    /// times between two polls is polled once.
    woken: Mutex<Vec<usize>>,
    queued: Box<[AtomicBool]>,
    parent: Mutex<Option<Waker>>,
}

struct ChildWaker {
    index: usize,
    ready: Arc<ReadySet>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.ready.queued[self.index].swap(true, Ordering::AcqRel) {
            // Already in the list; the parent was woken when it was put there.
            return;
        }
        self.ready
            .woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.index);
        let parent = self
            .ready
            .parent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

/// The future returned by [`join_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct JoinAll<F: Future> {
    children: Vec<Child<F>>,
    wakers: Vec<Waker>,
    ready: Arc<ReadySet>,
    remaining: usize,
}

impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> std::fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinAll")
            .field("len", &self.children.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let replaced = {
            let mut parent = this.ready.parent.lock().unwrap_or_else(|e| e.into_inner());
            if parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                None
            } else {
                parent.replace(cx.waker().clone())
            }
        };
        // A waker's Drop is foreign code: never run it under the lock wakers take.
        drop(replaced);
        if this.wakers.is_empty() {
            this.wakers = (0..this.children.len())
                .map(|index| {
                    Waker::from(Arc::new(ChildWaker {
                        index,
                        ready: this.ready.clone(),
                    }))
                })
                .collect();
        }
        let woken =
            std::mem::take(&mut *this.ready.woken.lock().unwrap_or_else(|e| e.into_inner()));
        for index in woken {
            // Cleared before the poll, so a wake during or after it queues the child again.
            this.ready.queued[index].store(false, Ordering::Release);
            let Child::Pending(future) = &mut this.children[index] else {
                continue;
            };
            let mut child_cx = Context::from_waker(&this.wakers[index]);
            if let Poll::Ready(output) = future.as_mut().poll(&mut child_cx) {
                this.children[index] = Child::Done(output);
                this.remaining -= 1;
            }
        }
        if this.remaining > 0 {
            return Poll::Pending;
        }
        let outputs = this
            .children
            .iter_mut()
            .map(|child| match std::mem::replace(child, Child::Taken) {
                Child::Done(output) => output,
                _ => unreachable!("coring: join_all finished with a child not done"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    #[test]
    fn a_child_woken_many_times_between_polls_is_polled_once() {
        let polls = Rc::new(Cell::new(0));
        let done = Rc::new(Cell::new(false));
        let waker = Rc::new(RefCell::new(None::<Waker>));
        let chatty = {
            let (polls, done, waker) = (polls.clone(), done.clone(), waker.clone());
            std::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                if done.get() {
                    return Poll::Ready(());
                }
                if polls.get() == 1 {
                    for _ in 0..100 {
                        cx.waker().wake_by_ref();
                    }
                }
                *waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
        };
        let finisher = async move {
            crate::time::sleep(Duration::from_millis(20)).await;
            done.set(true);
            if let Some(waker) = waker.borrow_mut().take() {
                waker.wake();
            }
        };
        let children: Vec<Pin<Box<dyn Future<Output = ()>>>> =
            vec![Box::pin(chatty), Box::pin(finisher)];
        crate::block_on(join_all(children));
        assert!(
            polls.get() <= 3,
            "a child woken 100 times before the next poll was polled {} times",
            polls.get()
        );
    }
}
