//! A read waiting on a connection whose peer then resets it (closing with `SO_LINGER` 0 sends an
//! RST) fails with `ConnectionReset`; a write after that fails with a reset or broken-pipe error
//! (never a `SIGPIPE`).

use coring::net::{TcpListener, TcpStream};
use coring::time::{sleep, timeout};
use std::io::ErrorKind;
use std::time::Duration;

#[test]
fn peer_reset_mid_read_is_connection_reset() {
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();

        // The server's read is in flight when the reset arrives.
        let reader = coring::spawn(async move {
            let (result, _buf) = server.read(Vec::with_capacity(1024)).await;
            (result, server)
        });
        sleep(Duration::from_millis(50)).await;
        assert!(
            !reader.is_finished(),
            "nothing was sent, so the read must be waiting"
        );
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);

        let (result, server) = timeout(Duration::from_secs(10), reader)
            .await
            .expect("the reset must end the read")
            .unwrap();
        let err = result.expect_err("the peer reset the connection");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

        let (result, _) = server.write(b"anyone there?".to_vec()).await;
        let err = result.expect_err("writing to a reset connection fails");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    });
}

#[test]
fn reset_from_a_std_socket_is_seen_the_same_way() {
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let read = coring::spawn(async move { server.read(Vec::with_capacity(64)).await.0 });
        sleep(Duration::from_millis(20)).await;
        socket2::SockRef::from(&std_client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(std_client);
        let err = timeout(Duration::from_secs(10), read)
            .await
            .expect("the reset must end the read")
            .unwrap()
            .expect_err("the peer reset the connection");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    });
}
