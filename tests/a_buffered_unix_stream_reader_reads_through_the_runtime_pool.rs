//! `BufReader<UnixStream>` (and over a read half) reads through the runtime's read pool too,
//! lines spanning the pool's 64-byte buffers intact, and the stream's `as_raw_fd` stays the
//! socket's (the pool path changes nothing about the descriptor a user may pass on).

mod common;

use common::within;
use coring::io::BufReader;
use coring::net::UnixStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn unix_stream_lines_come_through_the_pool() {
    within(Duration::from_secs(30), || {
        let runtime = coring::Builder::new().read_buffers(4, 64).build().unwrap();
        runtime.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let lines: Vec<String> = (0..200)
                .map(|i| format!("{i}:{}\n", "x".repeat(i)))
                .collect();
            let sent = lines.concat();
            let writer = coring::spawn(async move {
                let a = a;
                a.write_all(sent.into_bytes()).await.0.unwrap();
                a.shutdown(std::net::Shutdown::Write).await.unwrap();
            });
            let (read_half, _write_half) = b.into_split();
            let mut reader = BufReader::with_capacity(512, read_half);
            for want in &lines {
                let line = reader.next_line(512).await.unwrap().unwrap();
                assert_eq!(line, want.as_bytes());
            }
            assert_eq!(reader.next_line(512).await.unwrap(), None);
            assert!(reader.reads_through_pool());
            writer.await.unwrap();

            let (c, d) = UnixStream::pair().unwrap();
            let mut reader = BufReader::new(d);
            let c = c;
            c.write_all(b"ping\n".to_vec()).await.0.unwrap();
            assert_eq!(reader.next_line(64).await.unwrap(), Some(&b"ping\n"[..]));
            assert!(reader.reads_through_pool());
            let fd = reader.get_ref().as_raw_fd();
            let socket = socket2::SockRef::from(reader.get_ref());
            assert_eq!(socket.r#type().unwrap(), socket2::Type::STREAM, "fd {fd}");
        });
    });
}
