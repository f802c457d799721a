//! The runtime's read pool shared by readers that stop reading (a server task stuck writing to
//! a client that pipelines requests and never reads its responses) and a reader that reads.
//! Each stuck reader holds at most its share of a ring (a quarter). Connected in waves, the
//! stuck readers dry ring after ring (before the fix, the pool stopped adding rings at 8, so
//! 32 stuck readers held every buffer). A new connection whose peer sends one line must still
//! get it (it is ready in the socket), not wait for the stuck readers to go away: a reader
//! whose ring is dry moves to a ring with buffers, the pool adding one if none has.

mod common;

use common::within;
use coring::io::BufReader;
use coring::net::TcpListener;
use coring::time::{sleep, timeout};
use std::io::Write;
use std::time::Duration;

/// Buffers per ring: a stream may hold a quarter of them, so four stuck readers dry a ring.
const BUFFERS: u16 = 16;
/// Waves of stuck readers, each drying a ring: more than the 8 rings the pool used to stop at.
const WAVES: usize = 10;

#[test]
fn a_new_reader_gets_its_line_while_stuck_readers_hold_their_share() {
    within(Duration::from_secs(60), || {
        let runtime = coring::Builder::new()
            .read_buffers(BUFFERS, 4096)
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let connect_flooding = move || {
                std::thread::spawn(move || {
                    let mut peer = std::net::TcpStream::connect(addr).unwrap();
                    // Far more than the reader's share of the ring; it blocks once the
                    // socket buffers are full, and ends when the test's process does.
                    let _ = peer.write_all(&vec![b'x'; 4 << 20]);
                    std::thread::sleep(Duration::from_secs(60));
                });
            };
            for _ in 0..WAVES {
                for _ in 0..4 {
                    connect_flooding();
                    let (stream, _) = listener.accept().await.unwrap();
                    coring::spawn(async move {
                        let mut reader = BufReader::new(stream);
                        let _ = reader.fill_buf().await;
                        // Stuck: say, writing a response to a client that does not read.
                        sleep(Duration::from_secs(3600)).await;
                        drop(reader);
                    });
                }
                // Let this wave fill its ring, so the next wave's readers get a new one.
                sleep(Duration::from_millis(100)).await;
            }

            let peer = std::thread::spawn(move || {
                let mut peer = std::net::TcpStream::connect(addr).unwrap();
                peer.write_all(b"hello\n").unwrap();
                std::thread::sleep(Duration::from_secs(10));
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(stream);
            let line = timeout(Duration::from_secs(5), reader.next_line(64)).await;
            let line = line.map(|line| line.map(|line| line.map(<[u8]>::to_vec)));
            assert!(
                matches!(&line, Ok(Ok(Some(line))) if line == b"hello\n"),
                "a line ready in the socket, and the reader got {line:?} in 5 s \
                 ({} stuck readers hold the pool)",
                WAVES * 4
            );
            drop(reader);
            peer.join().unwrap();
        });
    });
}
