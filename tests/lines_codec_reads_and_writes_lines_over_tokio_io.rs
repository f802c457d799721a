//! tokio-util's `Framed<_, LinesCodec>` over `coring::compat::TokioIo<TcpStream>` (feature
//! `tokio-io`): a server upper-cases every line a client sends, 2,000 lines of varied length
//! in both directions over loopback, in order and intact, then both ends see the end of stream.

mod common;

use coring::compat::TokioIo;
use coring::net::{TcpListener, TcpStream};
use futures_util::{SinkExt, StreamExt};
use tokio_util::codec::{Framed, LinesCodec};

const LINES: usize = 2_000;

fn line(i: usize) -> String {
    // From empty to about 3 KiB, so lines straddle the adapter's read buffers.
    let len = (i * 37) % 3_000;
    (0..len)
        .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
        .collect()
}

#[coring::test]
async fn lines_codec_reads_and_writes_lines_over_tokio_io() -> std::io::Result<()> {
    let _watchdog = common::Watchdog::new(60, "lines over TokioIo");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = coring::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut lines = Framed::new(TokioIo::new(stream), LinesCodec::new_with_max_length(8192));
        let mut served = 0;
        while let Some(line) = lines.next().await {
            let line = line.map_err(std::io::Error::other)?;
            lines
                .send(line.to_uppercase())
                .await
                .map_err(std::io::Error::other)?;
            served += 1;
        }
        std::io::Result::Ok(served)
    });

    let client = TcpStream::connect(addr).await?;
    let (mut sink, mut stream) = Framed::new(TokioIo::new(client), LinesCodec::new()).split();
    let writer = coring::spawn(async move {
        for i in 0..LINES {
            sink.feed(line(i)).await.map_err(std::io::Error::other)?;
        }
        sink.flush().await.map_err(std::io::Error::other)?;
        // Closing the sink shuts down the writing side: the server reads the end of stream.
        sink.close().await.map_err(std::io::Error::other)
    });
    for i in 0..LINES {
        let got = stream.next().await.expect("a line per line sent");
        assert_eq!(
            got.map_err(std::io::Error::other)?,
            line(i).to_uppercase(),
            "line {i}"
        );
    }
    writer.await.unwrap()?;
    assert_eq!(server.await.unwrap()?, LINES);
    assert!(
        stream.next().await.is_none(),
        "the server closed: end of stream"
    );
    Ok(())
}
