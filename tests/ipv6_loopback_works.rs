//! TCP and UDP over the IPv6 loopback `[::1]`. Skipped, with a note, where the machine has no
//! IPv6 loopback (some containers).

mod common;

use coring::net::{TcpListener, TcpStream, UdpSocket};
use coring::time::timeout;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

fn ipv6_available() -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(err) => {
            common::skipped(
                "ipv6_loopback_works",
                &format!("no IPv6 loopback here ({err})"),
            );
            false
        }
    }
}

#[test]
fn ipv6_loopback_works() {
    if !ipv6_available() {
        return;
    }
    coring::block_on(async {
        timeout(Duration::from_secs(30), async {
            let listener = TcpListener::bind("[::1]:0").unwrap();
            let addr = listener.local_addr().unwrap();
            assert_eq!(addr.ip(), Ipv6Addr::LOCALHOST);

            let server = coring::spawn(async move {
                let (stream, peer) = listener.accept().await.unwrap();
                assert!(peer.is_ipv6());
                let (n, buf) = stream.read(Vec::with_capacity(64)).await;
                let n = n.unwrap();
                stream.write_all(buf).await.0.unwrap();
                n
            });
            let client = TcpStream::connect(addr).await.unwrap();
            assert_eq!(client.peer_addr().unwrap(), addr);
            client.write_all(b"over v6".to_vec()).await.0.unwrap();
            let (n, buf) = client.read(Vec::with_capacity(64)).await;
            assert_eq!(&buf[..n.unwrap()], b"over v6");
            assert_eq!(server.await.unwrap(), 7);

            let a = UdpSocket::bind("[::1]:0").unwrap();
            let b = UdpSocket::bind("[::1]:0").unwrap();
            a.send_to(b"dgram".to_vec(), b.local_addr().unwrap())
                .await
                .0
                .unwrap();
            let (r, buf) = b.recv_from(Vec::with_capacity(64)).await;
            let (n, from): (usize, SocketAddr) = r.unwrap();
            assert_eq!((&buf[..n], from), (&b"dgram"[..], a.local_addr().unwrap()));
        })
        .await
        .expect("IPv6 exchange hung");
    });
}
