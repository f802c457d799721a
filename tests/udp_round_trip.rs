//! UDP on the ring: `send_to`/`recv_from` report lengths and senders; `connect` then
//! `send`/`recv` talk to the one peer; a datagram larger than the buffer is cut to its capacity.

use coring::net::UdpSocket;
use coring::time::timeout;
use std::time::Duration;

#[coring::test]
async fn udp_round_trip() {
    timeout(Duration::from_secs(30), async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());

        // Unconnected: many datagrams, each arriving whole with its sender.
        for i in 0..100u32 {
            let msg = format!("datagram {i}").into_bytes();
            let (sent, _) = a.send_to(msg.clone(), b_addr).await;
            assert_eq!(sent.unwrap(), msg.len());
            let (r, buf) = b.recv_from(Vec::with_capacity(1500)).await;
            let (n, from) = r.unwrap();
            assert_eq!((&buf[..n], from), (&msg[..], a_addr));
        }

        // A receive waiting before the datagram is sent.
        let waiting = coring::spawn(async move {
            let (r, buf) = b.recv_from(Vec::with_capacity(64)).await;
            let (n, from) = r.unwrap();
            (buf[..n].to_vec(), from, b)
        });
        coring::time::sleep(Duration::from_millis(10)).await;
        a.send_to(b"late".to_vec(), b_addr).await.0.unwrap();
        let (got, from, b) = waiting.await.unwrap();
        assert_eq!((&got[..], from), (&b"late"[..], a_addr));

        // Too big for the buffer: cut to its capacity, the rest discarded.
        a.send_to(vec![7u8; 1000], b_addr).await.0.unwrap();
        let (r, buf) = b.recv_from(Vec::with_capacity(100)).await;
        let (n, _) = r.unwrap();
        assert_eq!(n, buf.capacity().min(1000));
        assert!(buf.iter().all(|&x| x == 7));

        // Connected: send/recv with the one peer.
        a.connect(b_addr).unwrap();
        b.connect(a_addr).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        a.send(b"to b".to_vec()).await.0.unwrap();
        let (n, buf) = b.recv(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"to b");
        b.send(b"to a".to_vec()).await.0.unwrap();
        let (n, buf) = a.recv(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"to a");

        // An unconnected socket has no peer.
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            c.peer_addr().unwrap_err().kind(),
            std::io::ErrorKind::NotConnected
        );
    })
    .await
    .expect("UDP exchange hung");
}
