//! A connection accepted for an `accept` whose future was dropped is kept for the next accept
//! (the "# Cancel safety" promise). If its client resets it before that next accept, the accept
//! must still return it with the peer's address, as a plain accept of the same reset connection
//! does (the reset shows on the first read). It returned `NotConnected`: the kept connection
//! had lost its address, and asking the socket for it again fails once the peer is gone.

mod common;

use common::{poll_once, until_reaped, Watchdog};
use coring::net::TcpListener;
use socket2::{Domain, Socket, Type};
use std::pin::pin;
use std::time::Duration;

#[test]
fn a_kept_connection_reset_by_its_client_is_accepted_like_any_other() {
    if common::skip::io_uring_only(
        "a_kept_connection_reset_by_its_client_is_accepted_like_any_other",
    ) {
        return;
    }
    let _watchdog = Watchdog::new(30, "a_kept_connection_reset_by_its_client");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        client.connect(&addr.into()).unwrap();
        let client_addr = client.local_addr().unwrap().as_socket().unwrap();
        {
            let mut dropped = pin!(listener.accept());
            assert!(poll_once(dropped.as_mut()).await.is_none());
            until_reaped(&runtime).await;
        }
        // The client resets the connection (a close with a zero linger sends RST).
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        coring::time::sleep(Duration::from_millis(50)).await;

        let (stream, peer) = listener
            .accept()
            .await
            .expect("the kept, reset connection was not returned by the next accept");
        assert_eq!(peer, client_addr);
        let (read, _) = stream.read(vec![0u8; 16]).await;
        assert!(read.is_err(), "a reset connection read {read:?}");
    });
}
