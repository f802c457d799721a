//! `UdpSocket::recv` works on a socket that was never connected (it takes a datagram from
//! anyone, as `recv(2)` does). If such a receive is dropped after the kernel gave it a datagram,
//! the "# Cancel safety" promise says the next receive returns that datagram; a `recv_from`
//! must also say who sent it. It failed with `NotConnected` and the datagram was gone: the kept
//! datagram had no sender, and the unconnected socket has no peer to stand in for it.

mod common;

use common::{poll_once, until_reaped, Watchdog};
use coring::net::UdpSocket;
use coring::time::timeout;
use std::pin::pin;
use std::time::Duration;

#[test]
fn udp_recv_dropped_on_an_unconnected_socket_keeps_its_datagram_and_sender() {
    let _watchdog = Watchdog::new(30, "udp_recv_dropped_on_an_unconnected_socket");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        {
            let mut dropped = pin!(b.recv(Vec::with_capacity(64)));
            assert!(poll_once(dropped.as_mut()).await.is_none());
            a.send_to(b"one".to_vec(), b_addr).await.0.unwrap();
            until_reaped(&runtime).await;
        }
        a.send_to(b"two".to_vec(), b_addr).await.0.unwrap();
        for expected in [&b"one"[..], b"two"] {
            let (result, buf) =
                timeout(Duration::from_secs(5), b.recv_from(Vec::with_capacity(64)))
                    .await
                    .expect("the next receive waited: the datagram was lost");
            let (n, from) = result.expect("the kept datagram came back as an error");
            assert_eq!(
                (&buf[..n], from),
                (expected, a_addr),
                "lost or out of order"
            );
        }
    });
}
