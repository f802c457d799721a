//! A zero-copy send to a peer that stopped reading, whose future was dropped: the kernel holds
//! the buffer until the peer acknowledges the bytes, which never happens. Dropping the runtime
//! must not wait out its shutdown deadline for that: it resets the connection so the kernel
//! lets go, then frees the buffer (after the notification), closes the socket, and returns
//! promptly. Before it, later writes on the stream do not hang behind the dropped send either.

mod common;

use common::buf::Probe;
use common::{poll_once, within};
use std::io::Read;
use std::pin::pin;
use std::time::{Duration, Instant};

const PAYLOAD: usize = 4 << 20;

#[test]
fn shutdown_with_an_abandoned_send_zc_to_a_stalled_peer_is_prompt() {
    if common::skip::io_uring_only("shutdown_with_an_abandoned_send_zc_to_a_stalled_peer_is_prompt")
    {
        return;
    }
    within(Duration::from_secs(60), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // The peer never reads.
        let (mut peer, _) = listener.accept().unwrap();
        let probe = Probe::default();

        let runtime = coring::Runtime::new().unwrap();
        runtime.block_on(async {
            let stream = coring::net::TcpStream::from_std(client).unwrap();
            {
                let mut send = pin!(stream.send_zc(probe.buf(vec![7u8; PAYLOAD])));
                assert!(poll_once(send.as_mut()).await.is_none());
                // Long enough for the kernel to fill the peer's window and the send buffer.
                coring::time::sleep(Duration::from_millis(200)).await;
            }
            // The next write does not wait for the stalled notification: it fails at once
            // (bytes of the dropped send went out, so the stream has a gap) or goes out.
            let write =
                coring::time::timeout(Duration::from_secs(5), stream.write(b"more".to_vec())).await;
            assert!(
                write.is_ok(),
                "a write waited behind the dropped zero-copy send's notification"
            );
            // The stream lives on in a task when the runtime is dropped.
            drop(coring::spawn(async move {
                std::future::pending::<()>().await;
                drop(stream);
            }));
        });
        assert_eq!(probe.live(), 1, "the kernel still holds the buffer");

        let started = Instant::now();
        drop(runtime);
        let took = started.elapsed();
        eprintln!("dropping the runtime took {took:?}");
        assert!(
            took < Duration::from_secs(5),
            "dropping the runtime took {took:?}: it waited for a notification that never came"
        );
        assert_eq!(
            (probe.live(), probe.dropped()),
            (0, 1),
            "the buffer was leaked (or freed twice) instead of freed after its notification"
        );
        // The socket was closed (reset): the peer sees an error or the end, not silence.
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = vec![0u8; 1 << 20];
        loop {
            match peer.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(err) => {
                    assert_ne!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock,
                        "the socket was never closed"
                    );
                    break;
                }
            }
        }
    });
}
