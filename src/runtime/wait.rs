//! Blocking a plain thread on work that runs on the workers: the `block_on` family and
//! `run_on_all` of [`MultiRuntime`](super::MultiRuntime).

use super::RemoteJoinHandle;
use crate::executor::JoinError;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

/// The output of work run on a worker, or that work's panic resumed here.
///
/// # Panics
///
/// Resumes the work's panic; panics if the worker stopped before the work finished.
pub(super) fn unwrap_join<T>(result: Result<T, JoinError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => match err.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(err) => panic!("coring: the worker stopped before the future finished ({err})"),
        },
    }
}

/// Blocks this (non-worker) thread until `future` completes.
pub(crate) fn wait<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Waits for every handle at once and returns their outputs in order.
///
/// # Panics
///
/// Resumes the first panic *as it happens*, while other handles are still pending, rather than
/// after the handles before it in order have finished.
pub(super) fn wait_all<T>(mut running: Vec<RemoteJoinHandle<T>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = running.iter().map(|_| None).collect();
    wait(std::future::poll_fn(|cx| {
        let mut pending = false;
        for (output, handle) in outputs.iter_mut().zip(&mut running) {
            if output.is_none() {
                match Pin::new(handle).poll(cx) {
                    Poll::Ready(result) => *output = Some(unwrap_join(result)),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }));
    outputs.into_iter().flatten().collect()
}
