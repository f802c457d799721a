//! Dropping a `TcpListener` or `UdpSocket` with no operation in flight closes it at once, not at
//! the runtime's next submission: the port can be bound again straight away, and a dropped
//! listener accepts no more connections.

mod common;

use common::Watchdog;
use coring::net::{TcpListener, UdpSocket};
use std::io;

#[test]
fn dropped_listener_and_udp_socket_close_at_once() {
    let _watchdog = Watchdog::new(30, "dropped_listener_and_udp_socket_close_at_once");
    coring::block_on(async {
        // A loop turn has passed, so the runtime is in its steady state.
        coring::task::yield_now().await;

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        // No await in between: the runtime has not submitted anything since the drop.
        match std::net::TcpStream::connect(addr) {
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused),
            Ok(_) => panic!("a dropped listener still accepted a connection"),
        }
        let again = TcpListener::bind(addr).expect("rebinding a dropped listener's port");
        drop(again);

        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        drop(socket);
        UdpSocket::bind(addr).expect("rebinding a dropped UDP socket's port");

        // Also after the socket was used: an accept that completed holds nothing open.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        drop(stream);
        drop(listener);
        TcpListener::bind(addr).expect("rebinding a used listener's port");
    });
}
