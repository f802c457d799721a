//! A read dropped while in flight (by a timeout) keeps its buffer alive until the kernel's
//! cancellation completes, then frees it exactly once (docs/ARCHITECTURE.md invariant 2, docs/HAZARDS.md H1);
//! and the stream goes on working: bytes sent afterwards all arrive, in order, in new reads.
//!
//! The companion test covers the other legal outcome of a cancel: the read had already taken
//! bytes. Those cannot be handed back, so the stream must say so on the next read rather than
//! silently skip them (H5). Likewise a `write_all` dropped after part of its buffer went out
//! makes later writes fail.

mod common;

use common::buf::Probe;
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::time::{Duration, Instant};

/// The byte at position `i` of the test stream.
fn byte_at(i: usize) -> u8 {
    (i % 253) as u8
}

#[test]
fn dropped_read_keeps_its_buffer_until_completion() {
    if common::skip::io_uring_only("dropped_read_keeps_its_buffer_until_completion") {
        return;
    }
    let runtime = Runtime::new().unwrap();
    let probe = Probe::default();
    runtime.block_on(async {
        let (client, server) = common::tcp_pair().await;

        // Nothing was sent, so the read waits; the timeout drops it in flight.
        let buf = probe.buf(Vec::with_capacity(64 * 1024));
        let r = timeout(Duration::from_millis(20), server.read(buf)).await;
        assert!(r.is_err(), "nothing was sent, yet the read finished");

        // The kernel has not answered the cancel yet (it is submitted on the next loop turn),
        // so the runtime still owns the buffer: it must not have been freed.
        assert_eq!(probe.dropped(), 0, "buffer freed while in flight");
        assert_eq!(
            runtime.metrics().ops_in_flight,
            1,
            "the dropped read is still in flight"
        );

        // Once the runtime has reaped the cancellation, the buffer is freed, exactly once.
        let deadline = Instant::now() + Duration::from_secs(5);
        while runtime.metrics().ops_in_flight > 0 {
            assert!(Instant::now() < deadline, "the cancel never completed");
            sleep(Duration::from_millis(1)).await;
        }
        sleep(Duration::from_millis(10)).await;
        assert_eq!(probe.dropped(), 1);

        // Bytes sent from now on all arrive, in order, in new reads.
        const TOTAL: usize = 1 << 20;
        let writer = coring::spawn(async move {
            let data: Vec<u8> = (0..TOTAL).map(byte_at).collect();
            client.write_all(data).await.0.unwrap();
            client
        });
        let mut received = 0;
        timeout(Duration::from_secs(30), async {
            while received < TOTAL {
                let (n, buf) = server.read(probe.buf(Vec::with_capacity(4096))).await;
                let n = n.expect("the stream must still read after a clean cancel");
                assert!(n > 0, "early end of stream at {received}");
                for (k, &b) in buf[..n].iter().enumerate() {
                    assert_eq!(b, byte_at(received + k), "byte {} corrupt", received + k);
                }
                received += n;
            }
        })
        .await
        .expect("the bytes sent after the cancel did not all arrive");
        drop(writer.await.unwrap());
        assert_eq!(runtime.metrics().ops_in_flight, 0);
    });
}

#[test]
fn a_read_dropped_after_taking_bytes_fails_the_next_read() {
    if common::skip::io_uring_only("a_read_dropped_after_taking_bytes_fails_the_next_read") {
        return;
    }
    coring::block_on(async {
        let (client, server) = common::tcp_pair().await;
        client.write_all(b"will be lost".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(10)).await;

        // A zero timeout drops the read right after pushing it: the read and its cancel go to
        // the kernel together, and the read, having data, completes before the cancel.
        let r = timeout(Duration::ZERO, server.read(Vec::with_capacity(64))).await;
        assert!(r.is_err(), "the zero timeout should drop the read");
        sleep(Duration::from_millis(10)).await;

        client.write_all(b"after".to_vec()).await.0.unwrap();
        let (next, buf) = timeout(Duration::from_secs(5), server.read(Vec::with_capacity(64)))
            .await
            .expect("the read hung");
        match next {
            // The cancel won after all: nothing was lost, so the first bytes are still first.
            Ok(n) => {
                eprintln!("the cancel won the race; nothing was lost");
                assert!(buf[..n].starts_with(b"will be lost"), "{:?}", &buf[..n]);
            }
            Err(err) => {
                eprintln!("the read won the race; the stream says so: {err}");
                assert!(err.to_string().contains("cancelled"), "{err}");
                // And keeps saying so.
                let (again, _) = server.read(Vec::with_capacity(64)).await;
                assert!(again.is_err());
            }
        }
    });
}

#[test]
fn a_write_all_dropped_midway_fails_the_next_write() {
    coring::block_on(async {
        let (client, server) = common::tcp_pair().await;
        // Nobody reads on the other side, so 32 MiB cannot all fit in the socket buffers: the
        // write_all is cut off after some of it went out.
        let big = vec![1u8; 32 << 20];
        let r = timeout(Duration::from_millis(200), client.write_all(big)).await;
        assert!(r.is_err(), "32 MiB fit in the socket buffers?");
        let (next, _) = client.write(b"more".to_vec()).await;
        let err = next.expect_err("the peer would see a cut-off message followed by more bytes");
        assert!(err.to_string().contains("cancelled"), "{err}");
        drop(server);
    });
}
