//! With `Builder::completion_batch`, dropping a runtime with reads in flight cancels them and
//! returns as soon as the kernel has reaped the cancels: shutdown does not sit out the batch's
//! minimum wait (nor its own 50 ms reap interval) for each round.

mod common;

use common::within;
use coring::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn dropping_a_batched_runtime_with_reads_in_flight_is_prompt() {
    if common::skip::io_uring_only("dropping_a_batched_runtime_with_reads_in_flight_is_prompt") {
        return;
    }
    within(Duration::from_secs(60), || {
        // A max_delay far above what shutdown should take, so a wait that honours it shows.
        let runtime = coring::Builder::new()
            .completion_batch(64, Duration::from_millis(400))
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peers = Vec::new();
        for _ in 0..4 {
            let stream = runtime.block_on(TcpStream::connect(addr)).unwrap();
            peers.push(listener.accept().unwrap().0);
            // A read that never completes: the peer sends nothing.
            runtime.spawn(async move {
                let _ = stream.read(Vec::with_capacity(64)).await;
            });
        }
        // One turn submits the reads.
        runtime.block_on(coring::task::yield_now());
        assert_eq!(runtime.metrics().ops_in_flight, 4);
        let started = Instant::now();
        drop(runtime);
        let took = started.elapsed();
        // Cancelling four reads on loopback takes microseconds; a wait that honoured the batch's
        // minimum wait (400 ms) or the reap interval (50 ms) would take at least 50 ms.
        assert!(
            took < Duration::from_millis(40),
            "dropping the runtime took {took:?}"
        );
        drop(peers);
    });
}
