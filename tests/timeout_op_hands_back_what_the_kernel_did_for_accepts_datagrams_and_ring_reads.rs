//! `timeout_op` beyond plain reads: an accept, a datagram receive, a multishot accept
//! (`incoming`) and a buffer-ring read (`recv_stream`) each give `TimedOut` when nothing came,
//! and afterwards the same listener, socket or stream delivers what arrives, losing nothing:
//! no connection is closed behind the caller's back, no datagram or chunk disappears. An
//! operation started after the deadline is not submitted at all.

mod common;

use common::Watchdog;
use coring::buf::BufRing;
use coring::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixStream};
use coring::time::timeout_op;
use std::io::ErrorKind;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(20);

fn assert_timed_out<T: std::fmt::Debug>(result: std::io::Result<T>, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{what}: {err}");
}

#[test]
fn timeout_op_hands_back_what_the_kernel_did_for_accepts_datagrams_and_ring_reads() {
    let _dog = Watchdog::new(60, "timeout_op beyond reads");
    coring::block_on(async {
        // accept: nothing to take, then a connection that must not have been lost.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert_timed_out(timeout_op(SHORT, listener.accept()).await, "idle accept");
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = timeout_op(Duration::from_secs(10), listener.accept())
            .await
            .unwrap();
        assert_eq!(peer, client.local_addr().unwrap());

        // incoming (multishot accept): timed out, then it goes on taking connections.
        let mut incoming = listener.incoming();
        let next = timeout_op(SHORT, incoming.next()).await.unwrap();
        assert_timed_out(next, "idle incoming");
        let second = TcpStream::connect(addr).await.unwrap();
        let taken = incoming.next().await.unwrap().unwrap();
        assert_eq!(taken.peer_addr().unwrap(), second.local_addr().unwrap());

        // Datagrams, UDP and Unix: timed out, then the next datagram arrives whole.
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (r, buf) = timeout_op(SHORT, b.recv_from(Vec::with_capacity(64))).await;
        assert_timed_out(r, "idle UDP receive");
        a.send_to(b"udp".to_vec(), b.local_addr().unwrap())
            .await
            .0
            .unwrap();
        let (r, buf) = b.recv_from(buf).await;
        assert_eq!(&buf[..r.unwrap().0], b"udp");
        let (x, y) = UnixDatagram::pair().unwrap();
        let (r, buf) = timeout_op(SHORT, y.recv(Vec::with_capacity(64))).await;
        assert_timed_out(r, "idle Unix datagram receive");
        x.send(b"unix".to_vec()).await.0.unwrap();
        let (n, buf) = y.recv(buf).await;
        assert_eq!(&buf[..n.unwrap()], b"unix");

        // A buffer-ring read stream: timed out, then the stream goes on with the data.
        let ring = BufRing::new(8, 256).unwrap();
        let mut chunks = server.recv_stream(&ring);
        let next = timeout_op(SHORT, chunks.next()).await.unwrap();
        assert_timed_out(next, "idle ring read");
        client.write_all(b"ring".to_vec()).await.0.unwrap();
        let chunk = chunks.next().await.expect("the stream went on").unwrap();
        assert_eq!(&chunk[..], b"ring");

        // After the deadline, an operation is not even submitted: the bytes stay for later.
        let (p, q) = UnixStream::pair().unwrap();
        p.write_all(b"kept".to_vec()).await.0.unwrap();
        let late = timeout_op(Duration::ZERO, async {
            coring::time::sleep(SHORT).await; // past the deadline before the read starts
            q.read(Vec::with_capacity(16)).await
        });
        let (r, buf) = late.await;
        assert_timed_out(r, "a read started after the deadline");
        let (n, buf) = q.read(buf).await;
        assert_eq!(&buf[..n.unwrap()], b"kept");
    });
}
