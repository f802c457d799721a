//! Unix datagrams sent to a bound path and to an abstract name arrive whole, with the sender's
//! address; connected sockets (and a pair) talk with send/recv; a datagram larger than the
//! buffer is cut to its capacity.

mod common;

use common::unix::{abstract_name, SocketDir};
use common::Watchdog;
use coring::net::UnixDatagram;

#[test]
fn unix_datagrams_reach_a_path_and_an_abstract_name() {
    let _dog = Watchdog::new(30, "unix_datagrams_reach_a_path_and_an_abstract_name");
    let dir = SocketDir::new("unix-dgram");
    coring::block_on(async move {
        // To a path, from a sender bound to another path: the receiver sees where it came from.
        let server_path = dir.path("server.sock");
        let client_path = dir.path("client.sock");
        let server = UnixDatagram::bind(&server_path).unwrap();
        let client = UnixDatagram::bind(&client_path).unwrap();
        for i in 0..50u32 {
            let msg = format!("datagram {i}").into_bytes();
            let (sent, _) = client.send_to(msg.clone(), &server_path).await;
            assert_eq!(sent.unwrap(), msg.len());
            let (r, buf) = server.recv_from(Vec::with_capacity(256)).await;
            let (n, from) = r.unwrap();
            assert_eq!(&buf[..n], &msg[..]);
            assert_eq!(from.as_pathname(), Some(client_path.as_path()));
        }

        // To an abstract name, from a sender bound to another one; the reply goes back.
        let name = abstract_name("dgram-server");
        let abstract_server = UnixDatagram::bind(&name).unwrap();
        assert_eq!(
            abstract_server.local_addr().unwrap().as_abstract_name(),
            Some(&name.as_bytes()[1..])
        );
        let reply_name = abstract_name("dgram-client");
        let sender = UnixDatagram::bind(&reply_name).unwrap();
        sender
            .send_to(b"to an abstract name".to_vec(), &name)
            .await
            .0
            .unwrap();
        let (r, buf) = abstract_server.recv_from(Vec::with_capacity(64)).await;
        let (n, from) = r.unwrap();
        assert_eq!(&buf[..n], b"to an abstract name");
        assert_eq!(from.as_abstract_name(), Some(&reply_name.as_bytes()[1..]));
        abstract_server
            .send_to(b"reply".to_vec(), &reply_name)
            .await
            .0
            .unwrap();
        let (n, buf) = sender.recv(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..n.unwrap()], b"reply");

        // From an unbound socket: the sender is unnamed.
        let unbound = UnixDatagram::unbound().unwrap();
        unbound
            .send_to(b"anonymous".to_vec(), &server_path)
            .await
            .0
            .unwrap();
        let (r, _) = server.recv_from(Vec::with_capacity(64)).await;
        assert!(r.unwrap().1.is_unnamed());

        // Connected: send and recv with the one peer.
        unbound.connect(&server_path).unwrap();
        unbound.send(b"connected".to_vec()).await.0.unwrap();
        let (r, buf) = server.recv_from(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..r.unwrap().0], b"connected");

        // A pair; too big for the buffer: cut to its capacity.
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(vec![7u8; 1000]).await.0.unwrap();
        let (n, buf) = b.recv(Vec::with_capacity(100)).await;
        assert_eq!((n.unwrap(), buf.len()), (100, 100));

        // Nothing bound there: NotFound, naming the path.
        let missing = dir.path("nobody.sock");
        let (err, _) = client.send_to(b"x".to_vec(), &missing).await;
        let err = err.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("nobody.sock"), "{err}");
    });
}
