//! With the `bytes` feature, `bytes::Bytes` and `bytes::BytesMut` are owned buffers: one `Bytes`
//! written to several connections is the same allocation in every write (a clone per client,
//! no copy), and a `BytesMut` takes reads into its spare capacity, sliced or whole.

mod common;

use bytes::{Bytes, BytesMut};
use coring::buf::IoBuf;
use coring::net::{TcpListener, TcpStream};
use std::io;

async fn pair(listener: &TcpListener) -> io::Result<(TcpStream, TcpStream)> {
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

async fn read_to_end(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = BytesMut::with_capacity(7);
    loop {
        buf.clear();
        let (n, back) = stream.read(buf).await;
        buf = back;
        match n? {
            0 => return Ok(received),
            n => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[coring::test]
async fn one_bytes_broadcast_to_three_clients_is_never_copied() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "bytes broadcast");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let message = Bytes::from(b"the same allocation for everyone".repeat(1000));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (client, server) = pair(&listener).await?;
        let clone = message.clone();
        let sent = coring::spawn(async move {
            let (result, back) = server.write_all(clone).await;
            result?;
            io::Result::Ok(back.as_ptr())
        });
        readers.push((client, sent));
    }
    // The write tasks run while we read; each drops its server side when done (end of stream).
    for (client, sent) in readers {
        assert_eq!(read_to_end(&client).await?, message);
        let back = sent.await.expect("the write task")?;
        assert_eq!(
            back,
            message.as_ptr(),
            "the write got a copy, not the shared allocation"
        );
    }
    Ok(())
}

#[coring::test]
async fn a_bytes_mut_reads_into_its_spare_capacity_through_a_slice() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "bytes_mut slice read");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let (client, server) = pair(&listener).await?;
    client.write_all(BytesMut::from(&b"world"[..])).await.0?;

    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"hello ");
    let start = buf.len();
    let (n, slice) = server.read(buf.slice(start..)).await;
    let n = n?;
    let buf = slice.into_inner();
    assert_eq!(&buf[..], b"hello world");
    assert_eq!(n, 5);
    Ok(())
}
