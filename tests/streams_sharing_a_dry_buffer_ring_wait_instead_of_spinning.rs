//! Two receive streams share one buffer ring of two buffers. Stream B's receive fills both
//! before B's task reads them; stream A then gets `ENOBUFS`. The ring's user-space count still
//! says two buffers are available (B has not taken its completions), but the kernel has none:
//! A must wait for a buffer to come back, not re-arm in a loop (it did, about a million
//! submissions a second, until B read). Once B reads and drops its buffers, A gets its bytes.
//! (B is allowed the whole ring with `max_buffers(2)`; by default a stream holds at most a
//! quarter of a shared ring, which would keep the ring from running dry here.)

mod common;

use coring::buf::BufRing;
use coring::net::{TcpListener, TcpStream};
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::time::Duration;

/// Submissions a waiting stream may make in the idle window (arming, one retry or two): a
/// spinning stream makes hundreds of thousands.
const IDLE_SUBMISSIONS: u64 = 50;

#[test]
fn a_stream_without_buffers_waits_for_one_to_come_back() {
    if common::skip::io_uring_only("a_stream_without_buffers_waits_for_one_to_come_back") {
        return;
    }
    let runtime = Runtime::new().unwrap();
    let runtime = &runtime;
    runtime.block_on(async move {
        timeout(Duration::from_secs(30), async {
            let ring = BufRing::new(2, 64).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client_a = TcpStream::connect(addr).await.unwrap();
            let (server_a, _) = listener.accept().await.unwrap();
            let client_b = TcpStream::connect(addr).await.unwrap();
            let (server_b, _) = listener.accept().await.unwrap();
            let mut a = server_a.recv_stream(&ring);
            let mut b = server_b.recv_stream(&ring).max_buffers(2);
            // Arm both receives.
            assert!(timeout(Duration::from_millis(5), a.next()).await.is_err());
            assert!(timeout(Duration::from_millis(5), b.next()).await.is_err());

            // B's kernel receive takes both buffers; B's task does not read yet.
            for chunk in [b"b1", b"b2"] {
                client_b.write_all(chunk.to_vec()).await.0.unwrap();
                sleep(Duration::from_millis(20)).await;
            }
            client_a.write_all(b"a1".to_vec()).await.0.unwrap();

            let before = runtime.metrics();
            assert!(
                timeout(Duration::from_millis(300), a.next()).await.is_err(),
                "A got data although every buffer was B's"
            );
            let pushed = runtime.metrics().sqes_submitted - before.sqes_submitted;
            assert!(
                pushed <= IDLE_SUBMISSIONS,
                "A re-armed {pushed} times in 300 ms while the ring was dry"
            );

            let b1 = b.next().await.unwrap().unwrap();
            let b2 = b.next().await.unwrap().unwrap();
            assert_eq!((&b1[..], &b2[..]), (&b"b1"[..], &b"b2"[..]));
            drop((b1, b2));
            let a1 = timeout(Duration::from_secs(5), a.next())
                .await
                .expect("A was not woken when B gave its buffers back")
                .unwrap()
                .unwrap();
            assert_eq!(&a1[..], b"a1");
        })
        .await
        .expect("hung");
    });
}
