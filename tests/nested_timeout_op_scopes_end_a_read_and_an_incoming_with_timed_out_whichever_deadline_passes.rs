//! `timeout_op` scopes nested: whichever deadline passes first (the outer one or the inner
//! one), an op the inner scope submitted and is waiting on is cancelled and ends `TimedOut`,
//! having taken nothing, and its stream or listener stays usable. Both backends; a read and a
//! multishot `incoming()`.

mod common;

use coring::net::{TcpListener, TcpStream};
use coring::time::timeout_op;
use coring::Builder;
use std::io::ErrorKind;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(30);
const LONG: Duration = Duration::from_secs(30);

#[test]
fn a_read_and_an_incoming_end_timed_out_under_either_deadline() {
    let _dog = common::Watchdog::new(60, "nested timeout_op scopes");
    for backend in common::backends() {
        let runtime = Builder::new().backend(backend).build().unwrap();
        runtime.block_on(async {
            let (client, server) = common::tcp_pair().await;
            for (outer, inner) in [(SHORT, LONG), (LONG, SHORT)] {
                let read = timeout_op(outer, timeout_op(inner, server.read(vec![0u8; 16])));
                let (n, buf) = read.await;
                let err = n.expect_err("a read with nothing to read completed");
                assert_eq!(
                    err.kind(),
                    ErrorKind::TimedOut,
                    "{backend:?} {outer:?}/{inner:?}"
                );
                client.write_all(b"next".to_vec()).await.0.unwrap();
                let (n, buf) = server.read(buf).await;
                assert_eq!(
                    &buf[..n.unwrap()],
                    b"next",
                    "{backend:?} {outer:?}/{inner:?}"
                );
            }

            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut incoming = listener.incoming();
            for (outer, inner) in [(SHORT, LONG), (LONG, SHORT)] {
                let next = timeout_op(outer, timeout_op(inner, incoming.next())).await;
                let err = next
                    .expect("the stream ended instead of timing out")
                    .expect_err("a connection nobody made was accepted");
                assert_eq!(
                    err.kind(),
                    ErrorKind::TimedOut,
                    "{backend:?} {outer:?}/{inner:?}"
                );
                let _client = TcpStream::connect(addr).await.unwrap();
                let accepted = incoming.next().await.expect("the stream ended");
                assert!(accepted.is_ok(), "{backend:?}: {accepted:?}");
            }
        });
    }
}
