//! The contract of the compat adapters (feature `tokio-io`): a read future dropped after its
//! receive completed but before it was polled again, or cut short by timeouts, loses no byte:
//! the next read returns them. Writes accepted by `poll_write` are sent, in order, even when
//! the flush that was sending them is dropped.
//!
//! The control case shows the scenario bites: the same drop of a plain `TcpStream::read`
//! future loses the bytes (and the stream says so on its next read).

mod common;

use common::poll_once;
use coring::compat::TokioIo;
use coring::net::{TcpListener, TcpStream};
use std::pin::pin;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

/// Long enough for the loop to submit the receive, the bytes to arrive and the completion to
/// be reaped, on a loaded machine.
const SETTLE: Duration = Duration::from_millis(50);

#[coring::test]
async fn a_plain_read_dropped_after_its_completion_loses_the_bytes() -> std::io::Result<()> {
    if common::skip::io_uring_only("a_plain_read_dropped_after_its_completion_loses_the_bytes") {
        return Ok(());
    }
    let (client, server) = pair().await?;
    {
        let read = pin!(client.read(Vec::with_capacity(64)));
        assert!(poll_once(read).await.is_none(), "no bytes yet: pending");
        coring::time::sleep(SETTLE).await;
        server.write_all(b"hello".to_vec()).await.0?;
        coring::time::sleep(SETTLE).await;
    }
    server.write_all(b"world".to_vec()).await.0?;
    let (n, buf) = client.read(Vec::with_capacity(64)).await;
    assert!(
        n.is_err(),
        "the dropped read took \"hello\": expected the loss error, got {:?}",
        String::from_utf8_lossy(&buf)
    );
    Ok(())
}

#[coring::test]
async fn a_tokio_io_read_dropped_after_its_completion_loses_no_byte() -> std::io::Result<()> {
    if common::skip::io_uring_only("a_tokio_io_read_dropped_after_its_completion_loses_no_byte") {
        return Ok(());
    }
    let (client, server) = pair().await?;
    let mut client = TokioIo::new(client);
    let mut buf = [0u8; 64];
    {
        let read = pin!(client.read(&mut buf));
        assert!(poll_once(read).await.is_none(), "no bytes yet: pending");
        coring::time::sleep(SETTLE).await;
        server.write_all(b"hello".to_vec()).await.0?;
        coring::time::sleep(SETTLE).await;
    }
    server.write_all(b"world".to_vec()).await.0?;
    let n = client.read(&mut buf).await?;
    assert_eq!(&buf[..n], b"hello", "the dropped read's bytes come first");
    let n = client.read(&mut buf).await?;
    assert_eq!(&buf[..n], b"world");
    Ok(())
}

#[coring::test]
async fn tokio_io_reads_cut_short_by_timeouts_lose_no_byte() -> std::io::Result<()> {
    let (client, server) = pair().await?;
    let mut client = TokioIo::new(client);
    let sender = coring::spawn(async move {
        for i in 0..200u32 {
            server.write_all(i.to_be_bytes().to_vec()).await.0?;
            if i % 7 == 0 {
                coring::time::sleep(Duration::from_millis(1)).await;
            }
        }
        std::io::Result::Ok(())
    });
    let mut received = Vec::new();
    let mut timeouts = 0;
    while received.len() < 800 {
        let mut buf = [0u8; 3];
        match coring::time::timeout(Duration::from_micros(300), client.read(&mut buf)).await {
            Ok(n) => received.extend_from_slice(&buf[..n?]),
            Err(_elapsed) => timeouts += 1,
        }
    }
    sender.await.unwrap()?;
    println!("{timeouts} reads cut short by a timeout");
    let numbers: Vec<u32> = received
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(
        numbers,
        (0..200).collect::<Vec<_>>(),
        "after {timeouts} timeouts"
    );
    Ok(())
}

#[coring::test]
async fn tokio_io_writes_accepted_before_a_dropped_flush_are_all_sent() -> std::io::Result<()> {
    let (client, server) = pair().await?;
    let mut client = TokioIo::new(client);
    // Large enough to fill the socket buffers, so sends are short and the flush must wait.
    let chunk: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let reader = coring::spawn(async move {
        let mut got = Vec::new();
        loop {
            let (n, buf) = server.read(Vec::with_capacity(64 * 1024)).await;
            match n? {
                0 => return std::io::Result::Ok(got),
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    let mut expected = Vec::new();
    for _ in 0..40 {
        client.write_all(&chunk).await?;
        expected.extend_from_slice(&chunk);
        let flush = pin!(client.flush());
        let _ = poll_once(flush).await;
    }
    client.shutdown().await?;
    let got = reader.await.unwrap()?;
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "bytes out of order or altered");
    Ok(())
}

#[coring::test]
async fn into_inner_with_unread_bytes_makes_the_stream_report_the_gap() -> std::io::Result<()> {
    let (client, server) = pair().await?;
    let mut client = TokioIo::new(client);
    server.write_all(b"hello world".to_vec()).await.0?;
    let mut first = [0u8; 5];
    client.read_exact(&mut first).await?;
    assert_eq!(&first, b"hello");
    // " world" sits in the adapter's buffer; it cannot go back into the socket.
    let client = client.into_inner();
    server.write_all(b"!".to_vec()).await.0?;
    let (n, buf) = client.read(Vec::with_capacity(16)).await;
    assert!(
        n.is_err(),
        "the stream must not skip the adapter's bytes silently, got {:?}",
        String::from_utf8_lossy(&buf)
    );
    Ok(())
}
