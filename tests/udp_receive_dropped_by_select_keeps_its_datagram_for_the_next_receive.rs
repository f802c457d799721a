//! A `UdpSocket` receive whose future is dropped (a `select!` took another branch) after the
//! kernel had already put a datagram into its buffer does not lose that datagram: the next
//! receive on the socket returns it, before any datagram that came later. This is the "Cancel
//! safety" contract of `recv_from` and `recv` (tokio's are cancel safe too).

mod common;

use common::{poll_once, until_reaped, Watchdog};
use coring::net::UdpSocket;
use coring::time::timeout;
use std::pin::pin;
use std::time::Duration;

#[test]
fn udp_receive_dropped_by_select_keeps_its_datagram_for_the_next_receive() {
    let _watchdog = Watchdog::new(30, "udp_receive_dropped_keeps_its_datagram");
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());

        // recv_from: dropped after the kernel filled its buffer.
        {
            let mut dropped = pin!(b.recv_from(Vec::with_capacity(64)));
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
            let (n, from) = result.unwrap();
            assert_eq!(
                (&buf[..n], from),
                (expected, a_addr),
                "lost or out of order"
            );
        }

        // recv on a connected socket: the same promise.
        b.connect(a_addr).unwrap();
        {
            let mut dropped = pin!(b.recv(Vec::with_capacity(64)));
            assert!(poll_once(dropped.as_mut()).await.is_none());
            a.send_to(b"three".to_vec(), b_addr).await.0.unwrap();
            until_reaped(&runtime).await;
        }
        a.send_to(b"four".to_vec(), b_addr).await.0.unwrap();
        for expected in [&b"three"[..], b"four"] {
            let (result, buf) = timeout(Duration::from_secs(5), b.recv(Vec::with_capacity(64)))
                .await
                .expect("the next receive waited: the datagram was lost");
            let n = result.unwrap();
            assert_eq!(&buf[..n], expected, "datagrams out of order or lost");
        }
        assert_eq!(runtime.metrics().ops_in_flight, 0);
    });
}
