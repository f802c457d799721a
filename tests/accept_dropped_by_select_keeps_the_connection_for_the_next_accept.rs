//! An `accept` whose future is dropped (a `select!` took another branch) after the kernel had
//! already accepted a connection does not close that connection: the next `accept` (or
//! `incoming().next()`) returns it, and the client never reads end of file. The same holds for
//! connections a dropped `Incoming` had taken. This is the "Cancel safety" contract of
//! `accept` and `Incoming::next` (tokio's `accept` is cancel safe too).

mod common;

use common::{poll_once, until_reaped, Watchdog};
use coring::net::TcpListener;
use coring::time::timeout;
use std::io::Read;
use std::pin::pin;
use std::time::Duration;

/// The client reads what the server wrote: the connection was kept, not closed.
fn client_reads(client: &mut std::net::TcpStream, expected: &[u8]) {
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = vec![0u8; expected.len()];
    match client.read_exact(&mut got) {
        Ok(()) => assert_eq!(got, expected),
        Err(err) => panic!("the client's connection was closed by a dropped accept: {err}"),
    }
}

#[test]
fn accept_dropped_by_select_keeps_the_connection_for_the_next_accept() {
    if common::skip::io_uring_only(
        "accept_dropped_by_select_keeps_the_connection_for_the_next_accept",
    ) {
        return;
    }
    let _watchdog = Watchdog::new(30, "accept_dropped_keeps_the_connection");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        // accept() dropped after the kernel accepted; the next accept() takes the connection.
        let mut first = std::net::TcpStream::connect(addr).unwrap();
        {
            let mut dropped = pin!(listener.accept());
            // The connection is already queued, but the accept goes through the ring.
            assert!(poll_once(dropped.as_mut()).await.is_none());
            until_reaped(&runtime).await;
        }
        let (stream, peer) = timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("the next accept waited: the connection was lost")
            .unwrap();
        assert_eq!(peer, first.local_addr().unwrap());
        stream.write_all(b"first".to_vec()).await.0.unwrap();
        client_reads(&mut first, b"first");

        // accept() dropped; incoming().next() takes the connection.
        let mut second = std::net::TcpStream::connect(addr).unwrap();
        {
            let mut dropped = pin!(listener.accept());
            assert!(poll_once(dropped.as_mut()).await.is_none());
            until_reaped(&runtime).await;
        }
        let mut incoming = listener.incoming();
        let stream = timeout(Duration::from_secs(5), incoming.next())
            .await
            .expect("incoming waited: the connection was lost")
            .unwrap()
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), second.local_addr().unwrap());
        stream.write_all(b"second".to_vec()).await.0.unwrap();
        client_reads(&mut second, b"second");

        // An Incoming dropped with a connection its multishot accept had taken.
        let mut third = std::net::TcpStream::connect(addr).unwrap();
        {
            let mut next = pin!(incoming.next());
            assert!(poll_once(next.as_mut()).await.is_none());
            // The multishot accept stays in flight: give the loop time to reap the connection
            // into its queue (if it has not, the connection waits in the backlog instead).
            coring::time::sleep(Duration::from_millis(100)).await;
        }
        drop(incoming);
        let (stream, peer) = timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("the next accept waited: the connection was lost")
            .unwrap();
        assert_eq!(peer, third.local_addr().unwrap());
        stream.write_all(b"third".to_vec()).await.0.unwrap();
        client_reads(&mut third, b"third");
    });
}
