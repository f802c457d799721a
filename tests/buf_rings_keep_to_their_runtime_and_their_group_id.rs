//! A provided-buffer ring is registered with one runtime's io_uring under a group id that only
//! that ring knows. Using it from another runtime must be refused (that runtime's kernel would
//! pick buffers from its own group of the same number while coring read the first ring's
//! memory), and creating and dropping rings for a long time must never hand out the id of a
//! ring still alive (after 65,535 ids a wrapping counter came back to it, the registration
//! failed, and its cleanup unregistered the live ring, whose stream then spun on ENOBUFS).

mod common;

use coring::buf::BufRing;
use coring::time::timeout;
use std::time::Duration;

#[test]
fn a_ring_from_another_runtime_is_refused_with_a_clear_error() {
    if common::skip::io_uring_only("a_ring_from_another_runtime_is_refused_with_a_clear_error") {
        return;
    }
    let first = coring::Runtime::new().unwrap();
    let foreign = first.block_on(async { BufRing::new(2, 64).unwrap() });
    let second = coring::Runtime::new().unwrap();
    second.block_on(async {
        timeout(Duration::from_secs(30), async {
            // The second runtime's own ring gets the same group id as the foreign one.
            let own = BufRing::new(2, 64).unwrap();
            assert_eq!(own.group_id(), foreign.group_id());
            let (client, server) = common::tcp_pair().await;
            client.write_all(b"payload".to_vec()).await.0.unwrap();

            let mut wrong = server.recv_stream(&foreign);
            let err = wrong
                .next()
                .await
                .expect("an error, not the end")
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("another runtime"), "{err}");
            assert!(wrong.next().await.is_none(), "the refused stream has ended");
            drop(wrong);

            // Nothing was received through the wrong ring, so the bytes are still there.
            let mut right = server.recv_stream(&own);
            let chunk = right.next().await.unwrap().unwrap();
            assert_eq!(&chunk[..], b"payload");
        })
        .await
        .expect("receive hung");
    });
}

#[test]
fn group_ids_are_reused_and_never_collide_with_a_live_ring() {
    if common::skip::io_uring_only("group_ids_are_reused_and_never_collide_with_a_live_ring") {
        return;
    }
    coring::block_on(async {
        timeout(Duration::from_secs(120), async {
            let live = BufRing::new(4, 64).unwrap();
            // More rings than there are 16-bit ids, each dropped before the next.
            for i in 0..70_000u32 {
                let ring = BufRing::new(1, 16)
                    .unwrap_or_else(|err| panic!("ring {i} while one other is alive: {err}"));
                assert_ne!(ring.group_id(), live.group_id());
            }
            let (client, server) = common::tcp_pair().await;
            let mut incoming = server.recv_stream(&live);
            client.write_all(b"hello".to_vec()).await.0.unwrap();
            let chunk = timeout(Duration::from_secs(5), incoming.next())
                .await
                .expect("the live ring's stream stalled")
                .unwrap()
                .unwrap();
            assert_eq!(&chunk[..], b"hello");
        })
        .await
        .expect("hung");
    });
}
