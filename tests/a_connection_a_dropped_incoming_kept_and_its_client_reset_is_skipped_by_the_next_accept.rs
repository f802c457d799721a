//! Connections a dropped `Incoming` had taken are kept for the listener's next `accept`. The
//! multishot accept behind `Incoming` asks the kernel for no peer address, so `accept` asks the
//! socket; once the client has reset the connection the socket no longer knows it. `accept`
//! returned that as `NotConnected`, failing the caller for a connection that is already gone;
//! it must skip it and return the next connection, with its address.

mod common;

use common::{poll_once, Watchdog};
use coring::net::TcpListener;
use coring::time::timeout;
use socket2::{Domain, Socket, Type};
use std::pin::pin;
use std::time::Duration;

#[test]
fn a_kept_connection_reset_without_an_address_is_skipped() {
    // On epoll an `Incoming` accepts when polled: a dropped one keeps no connection.
    if common::skip::io_uring_only("a_kept_connection_reset_without_an_address_is_skipped") {
        return;
    }
    let _watchdog = Watchdog::new(30, "kept multishot connection reset");
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reset = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        reset.connect(&addr.into()).unwrap();
        let good = std::net::TcpStream::connect(addr).unwrap();
        {
            let mut incoming = listener.incoming();
            let mut next = pin!(incoming.next());
            let first = poll_once(next.as_mut()).await;
            assert!(first.is_none(), "the first poll only arms the accept");
            // Let the loop reap both connections into the multishot accept's queue.
            coring::time::sleep(Duration::from_millis(100)).await;
        }
        // The first kept connection's client resets it (a zero linger sends RST on close).
        reset.set_linger(Some(Duration::ZERO)).unwrap();
        drop(reset);
        coring::time::sleep(Duration::from_millis(50)).await;

        let accepted = timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("the next accept waited: the good connection was lost");
        let (_stream, peer) = accepted.expect("accept failed for a connection already gone");
        assert_eq!(peer, good.local_addr().unwrap());
    });
}
