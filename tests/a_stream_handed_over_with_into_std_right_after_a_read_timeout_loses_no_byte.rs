//! `into_std` right after a read timed out: the cancelled read may still be in the kernel, so
//! `into_std` waits for the runtime to reap it before handing the socket over, and the new
//! owner reads the bytes the peer sends next (none is eaten by the cancelled read). When only
//! another, idle runtime can reap it, `into_std` fails at once, saying so, instead of hanging
//! (io_uring only: on epoll a dropped read is gone at once).

mod common;

use common::within;
use coring::net::{TcpListener, TcpStream, UnixStream};
use coring::time::timeout;
use std::io::{self, Read, Write};
use std::time::Duration;

const NOTHING_YET: Duration = Duration::from_millis(20);

#[coring::test]
async fn a_tcp_stream_handed_over_after_a_read_timeout_gets_every_later_byte() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "tcp into_std after a read timeout");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let peer = TcpStream::connect(listener.local_addr()?).await?;
    let (stream, _) = listener.accept().await?;
    let read = timeout(NOTHING_YET, stream.read(Vec::with_capacity(8))).await;
    assert!(read.is_err(), "nothing was sent, yet the read finished");

    let mut std_stream = stream.into_std().await?;
    peer.write_all(b"abc".to_vec()).await.0?;
    let received = coring::task::spawn_blocking(move || {
        let mut buf = [0; 3];
        std_stream.read_exact(&mut buf).map(|()| buf)
    })
    .await
    .expect("the blocking read")?;
    assert_eq!(&received, b"abc");
    Ok(())
}

#[coring::test]
async fn a_unix_stream_handed_over_after_a_read_timeout_gets_every_later_byte() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "unix into_std after a read timeout");
    let (stream, peer) = UnixStream::pair()?;
    let read = timeout(NOTHING_YET, stream.read(Vec::with_capacity(8))).await;
    assert!(read.is_err(), "nothing was sent, yet the read finished");

    let mut std_stream = stream.into_std().await?;
    peer.write_all(b"xyz".to_vec()).await.0?;
    let mut buf = [0; 3];
    std_stream.read_exact(&mut buf)?;
    assert_eq!(&buf, b"xyz");
    Ok(())
}

#[test]
fn into_std_fails_at_once_when_only_an_idle_runtime_can_finish_a_cancelled_read() {
    // On epoll a dropped read is gone at once, having taken nothing: there is nothing to wait for.
    if common::skip::io_uring_only(
        "into_std_fails_at_once_when_only_an_idle_runtime_can_finish_a_cancelled_read",
    ) {
        return;
    }
    within(Duration::from_secs(20), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();

        let a = coring::Runtime::new().unwrap();
        let stream = a.block_on(async {
            let stream = TcpStream::from_std(client).unwrap();
            let read = timeout(NOTHING_YET, stream.read(Vec::with_capacity(8))).await;
            assert!(read.is_err(), "nothing was sent, yet the read finished");
            stream
        });
        peer.write_all(b"x").unwrap();

        let b = coring::Runtime::new().unwrap();
        let result = b.block_on(async {
            timeout(Duration::from_secs(5), stream.into_std())
                .await
                .expect("into_std waited for a cancelled read only the idle runtime can finish")
        });
        let err = result.expect_err("the byte may be in A's cancelled read: no clean hand-over");
        let message = err.to_string();
        assert!(
            message.contains("another runtime"),
            "unclear error: {message}"
        );
        drop(a);
    });
}
