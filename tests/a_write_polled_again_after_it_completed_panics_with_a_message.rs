//! An op future polled again after it returned its result has nothing left to give (its
//! buffer went back with the result): it panics saying so, on both backends, rather than
//! submitting again or handing out a result twice.

mod common;

use coring::Builder;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[test]
fn a_write_polled_after_it_completed_panics_saying_so() {
    for backend in common::backends() {
        let runtime = Builder::new().backend(backend).build().unwrap();
        let message = runtime.block_on(async {
            let (client, _server) = common::tcp_pair().await;
            let mut write = pin!(client.write(b"hello".to_vec()));
            let (n, _) = (&mut write).await;
            assert_eq!(n.unwrap(), 5, "{backend:?}");
            let mut cx = Context::from_waker(Waker::noop());
            let again = catch_unwind(AssertUnwindSafe(|| write.as_mut().poll(&mut cx)));
            match again {
                Ok(Poll::Ready(_)) => panic!("{backend:?}: a second result"),
                Ok(Poll::Pending) => panic!("{backend:?}: pending after completing"),
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            }
        });
        assert!(
            message.contains("polled after it completed"),
            "{backend:?}: the panic says {message:?}"
        );
    }
}
