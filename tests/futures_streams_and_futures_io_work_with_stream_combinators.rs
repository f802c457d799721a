//! Feature `futures-io`: coring's streams are `futures_core::Stream`s, so `StreamExt`
//! combinators drive them (incoming connections, an mpsc receiver, an interval, a multishot
//! receive), and `FuturesIo` carries a megabyte written in odd-sized pieces intact to
//! `read_to_end`.

mod common;

use coring::compat::FuturesIo;
use coring::net::{TcpListener, TcpStream};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::StreamExt;
use std::time::Duration;

mod time_alias {}

#[coring::test]
async fn incoming_connections_are_a_stream() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let clients = coring::spawn(async move {
        let mut kept = Vec::new();
        for _ in 0..3 {
            kept.push(TcpStream::connect(addr).await?);
        }
        std::io::Result::Ok(kept)
    });
    let accepted: Vec<_> = listener.incoming().take(3).collect().await;
    assert_eq!(accepted.len(), 3);
    for stream in accepted {
        assert_eq!(stream?.local_addr()?, addr);
    }
    clients.await.unwrap()?;
    Ok(())
}

#[coring::test]
async fn an_mpsc_receiver_is_a_stream_that_ends_with_its_senders() {
    let (tx, rx) = coring::sync::mpsc::channel(4);
    coring::spawn(async move {
        for i in 0..10 {
            tx.send(i).await.unwrap();
        }
    });
    let doubled: Vec<i32> = rx.map(|i| i * 2).collect().await;
    assert_eq!(doubled, (0..10).map(|i| i * 2).collect::<Vec<_>>());
}

#[coring::test]
async fn an_interval_is_a_stream_of_ticks() {
    let ticks: Vec<_> = coring::time::interval(Duration::from_millis(2))
        .take(3)
        .collect()
        .await;
    assert_eq!(ticks.len(), 3);
    assert!(ticks[0] + Duration::from_millis(4) <= ticks[2], "{ticks:?}");
}

#[coring::test]
async fn a_multishot_receive_is_a_stream() -> std::io::Result<()> {
    if common::skip::io_uring_only("a_multishot_receive_is_a_stream") {
        return Ok(());
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    let ring = coring::buf::BufRing::new(8, 1024)?;
    client.write_all(b"through the ring".to_vec()).await.0?;
    client.shutdown(std::net::Shutdown::Write).await?;
    let chunks: Vec<Vec<u8>> = server
        .recv_stream(&ring)
        .map(|chunk| chunk.map(|c| c.to_vec()))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<std::io::Result<_>>()?;
    assert_eq!(chunks.concat(), b"through the ring");
    Ok(())
}

#[coring::test]
async fn futures_io_carries_a_megabyte_to_read_to_end() -> std::io::Result<()> {
    let mut rng = common::Xorshift::new(20);
    let payload: Vec<u8> = (0..1 << 20).map(|_| rng.next_u64() as u8).collect();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = FuturesIo::new(TcpStream::connect(listener.local_addr()?).await?);
    let mut server = FuturesIo::new(listener.accept().await?.0);
    let sent = payload.clone();
    let writer = coring::spawn(async move {
        let mut at = 0;
        let mut piece = 1;
        while at < sent.len() {
            let end = (at + piece).min(sent.len());
            client.write_all(&sent[at..end]).await?;
            at = end;
            piece = piece * 3 % 9_973 + 1;
        }
        client.close().await
    });
    let mut received = Vec::new();
    server.read_to_end(&mut received).await?;
    writer.await.unwrap()?;
    assert_eq!(received.len(), payload.len());
    assert!(received == payload, "bytes altered or out of order");
    Ok(())
}
