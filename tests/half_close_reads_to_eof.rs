//! Shutting down the writing side lets the peer read everything sent and then end of stream
//! (`Ok(0)`, again on every later read), while the other direction keeps working: the peer
//! answers after the EOF and the answer arrives.

use coring::net::{TcpListener, TcpStream};
use coring::time::timeout;
use std::net::Shutdown;
use std::time::Duration;

async fn read_to_end(stream: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    loop {
        let (n, buf) = stream.read(Vec::with_capacity(1000)).await;
        match n? {
            0 => return Ok(all),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[coring::test]
async fn half_close_reads_to_eof() {
    timeout(Duration::from_secs(30), async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let request: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();

        let server = coring::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let got = read_to_end(&stream).await.unwrap();
            // End of stream stays end of stream.
            assert_eq!(stream.read(Vec::with_capacity(10)).await.0.unwrap(), 0);
            let reply = format!("got {} bytes", got.len()).into_bytes();
            stream.write_all(reply).await.0.unwrap();
            stream.shutdown(Shutdown::Write).await.unwrap();
            got
        });

        let client = TcpStream::connect(addr).await.unwrap();
        client.write_all(request.clone()).await.0.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        // Writing after shutting down the writing side is an error, not a signal.
        let (after, _) = client.write(b"late".to_vec()).await;
        assert_eq!(after.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);

        let reply = read_to_end(&client).await.unwrap();
        assert_eq!(reply, b"got 100000 bytes");
        assert_eq!(server.await.unwrap(), request);
    })
    .await
    .expect("half-close exchange hung");
}

#[coring::test]
async fn dropping_the_write_half_shuts_down_writing() {
    timeout(Duration::from_secs(30), async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (reader, writer) = client.into_split();
        writer.write_all(b"bye".to_vec()).await.0.unwrap();
        drop(writer);
        assert_eq!(read_to_end(&server).await.unwrap(), b"bye");
        // The reading half still works.
        server.write_all(b"ok".to_vec()).await.0.unwrap();
        let (n, buf) = reader.read(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..n.unwrap()], b"ok");
    })
    .await
    .expect("split exchange hung");
}
