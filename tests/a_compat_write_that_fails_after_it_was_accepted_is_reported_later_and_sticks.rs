//! The write side of the compat adapters' contract (feature `tokio-io`), as `coring::compat`
//! documents it: a write is accepted (`Ready(n)`) before it is sent, so a send that then fails
//! is reported by the next write, flush or shutdown, and every write after it fails too; a
//! write takes at most the 64 KiB gather limit at once; shutting down a connection the peer
//! already reset counts as done, not as an error.

mod common;

use coring::compat::TokioIo;
use coring::net::{TcpListener, TcpStream};
use std::io::{self, ErrorKind};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GATHER_LIMIT: usize = 64 * 1024;

/// A server-side adapter whose client reset the connection (`SO_LINGER` 0, then closed), the
/// reset seen by a read.
async fn reset_by_peer() -> io::Result<TokioIo<TcpStream>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    client.set_linger(Some(Duration::ZERO))?;
    drop(client);
    let mut server = TokioIo::new(server);
    let mut buf = [0; 8];
    let read = server.read(&mut buf).await;
    assert!(
        matches!(&read, Err(err) if err.kind() == ErrorKind::ConnectionReset),
        "the reset did not arrive: {read:?}"
    );
    Ok(server)
}

#[coring::test]
async fn a_failed_send_is_reported_by_the_next_write_and_every_one_after() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "sticky compat write error");
    let mut server = reset_by_peer().await?;
    // Accepted: the adapter owns the bytes now; the send it starts fails on the reset socket.
    assert_eq!(server.write(b"lost").await?, 4);
    coring::time::sleep(Duration::from_millis(50)).await;
    let next = server.write(b"next").await;
    let err = next.expect_err("the failed send was not reported by the next write");
    assert!(err.kind() == ErrorKind::BrokenPipe || err.kind() == ErrorKind::ConnectionReset);
    for attempt in 0..2 {
        let again = server.write(b"again").await;
        assert!(
            again.is_err(),
            "write {attempt} after the failure succeeded"
        );
        let flush = server.flush().await;
        assert!(
            flush.is_err(),
            "flush {attempt} after the failure succeeded"
        );
    }
    let err = server
        .shutdown()
        .await
        .expect_err("shutdown hid the lost bytes");
    assert!(
        err.to_string().contains("could not be sent"),
        "unclear: {err}"
    );
    Ok(())
}

#[coring::test]
async fn shutting_down_a_connection_the_peer_reset_is_done_not_an_error() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "compat shutdown after a reset");
    let mut server = reset_by_peer().await?;
    server.shutdown().await?;
    server.shutdown().await // and again: still done
}

#[coring::test]
async fn one_write_takes_at_most_the_gather_limit() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "compat gather limit");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TokioIo::new(TcpStream::connect(listener.local_addr()?).await?);
    let (server, _) = listener.accept().await?;
    let (mut client, mut server) = (client, TokioIo::new(server));
    let big = vec![7u8; 4 * GATHER_LIMIT];
    let n = client.write(&big).await?;
    assert!(n > 0 && n <= GATHER_LIMIT, "one write took {n} bytes");
    client.write_all(&big[n..]).await?;
    client.shutdown().await?;
    let mut received = Vec::new();
    server.read_to_end(&mut received).await?;
    assert_eq!(received, big);
    Ok(())
}
