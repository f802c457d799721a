//! `timeout_op` promises that after the deadline every ring operation the wrapped future waits
//! on gets a cancel. A `FuturesUnordered` only polls the children that were woken, so when the
//! deadline fires and `timeout_op` polls it, it polls no read: the scope must cancel the ops it
//! submitted, not only those it polls after the deadline, or the reads are never cancelled and
//! the timeout never ends.

mod common;

use coring::net::UnixStream;
use coring::time::timeout_op;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::time::Duration;

#[test]
fn timeout_op_cancels_reads_driven_by_a_futures_unordered() {
    common::within(Duration::from_secs(20), || {
        coring::block_on(async {
            let (_a, b) = UnixStream::pair().unwrap();
            let (_c, d) = UnixStream::pair().unwrap();
            let reads: FuturesUnordered<_> = [&b, &d]
                .into_iter()
                .map(|s| s.read(Vec::with_capacity(16)))
                .collect();
            let results: Vec<_> =
                timeout_op(Duration::from_millis(50), reads.collect::<Vec<_>>()).await;
            assert_eq!(results.len(), 2);
            for (n, _buf) in results {
                assert_eq!(n.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
            }
        })
    });
}
