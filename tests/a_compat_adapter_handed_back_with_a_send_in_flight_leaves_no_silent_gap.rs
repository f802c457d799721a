//! `TokioIo::into_inner` (and the same on `FuturesIo` and `HyperIo`) documents that bytes the
//! adapter accepted but did not send cannot go back into the socket, so the stream's next
//! write fails rather than skip them. That covers the bytes of a send still in flight: here
//! the peer reads nothing, so the adapter's send of an accepted write is stuck in the kernel
//! when the stream is handed back, and cancelling it moves no byte. The stream must then not
//! carry on as if the accepted bytes had gone out.

mod common;

use coring::compat::TokioIo;
use coring::net::TcpStream;
use std::io::{self, Read, Write};
use std::sync::mpsc::channel;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[coring::test]
async fn a_write_accepted_then_handed_back_unsent_is_never_skipped_silently() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(60, "compat into_inner with a send in flight");
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (go, start) = channel::<()>();
    // The peer reads nothing until told, then everything; it returns the stream's tail.
    let peer = std::thread::spawn(move || -> io::Result<Vec<u8>> {
        let (mut peer, _) = listener.accept()?;
        let _ = start.recv();
        let mut all = Vec::new();
        peer.read_to_end(&mut all)?;
        Ok(all.split_off(all.len().saturating_sub(10)))
    });

    // Fill both socket buffers with zeros, so the adapter's send cannot move a byte.
    let mut filler = std::net::TcpStream::connect(addr)?;
    filler.set_nonblocking(true)?;
    let zeros = vec![0u8; 64 * 1024];
    loop {
        match filler.write(&zeros) {
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err),
        }
    }
    let mut io = TokioIo::new(TcpStream::from_std(filler)?);
    assert_eq!(
        io.write(b"hello").await?,
        5,
        "the adapter takes the bytes over"
    );
    // Long enough for the send to reach the kernel and wait there for room.
    coring::time::sleep(Duration::from_millis(100)).await;
    let stream = io.into_inner();

    let writer = coring::spawn(async move {
        let written = stream.write_all(b"world".to_vec()).await.0;
        drop(stream);
        written
    });
    coring::time::sleep(Duration::from_millis(50)).await;
    let _ = go.send(());
    let written = writer.await.expect("the writer task ran");
    let tail = coring::task::spawn_blocking(move || peer.join().expect("the peer ran"))
        .await
        .expect("the blocking task ran")?;
    match written {
        Ok(()) => assert_eq!(
            tail,
            b"helloworld".to_vec(),
            "the stream wrote on after bytes the adapter had accepted were dropped: the peer's \
             stream ends {:?}",
            String::from_utf8_lossy(&tail)
        ),
        Err(err) => assert!(
            err.to_string().contains("gap"),
            "the next write failed, but not saying why: {err}"
        ),
    }
    Ok(())
}
