//! Back-pressure on the runtime's read pool: 24 connections send 48 KiB each at once to
//! `BufReader`s sharing a pool of four 128-byte buffers, so the ring runs dry over and over
//! (`ENOBUFS`). Some readers sit on their current buffer for a while (a slow consumer). Every
//! reader still gets its peer's bytes exactly, in order, and the end of stream only after them:
//! a dry ring is a wait, never an error, a false end of file or a lost chunk.

mod common;

use common::{within, Xorshift};
use coring::io::BufReader;
use coring::net::TcpListener;
use coring::runtime::ReadPath;
use std::io::Write;
use std::time::Duration;

const CONNECTIONS: usize = 24;
const BYTES: usize = 48 * 1024;

fn payload(seed: u64) -> Vec<u8> {
    Xorshift::new(seed).bytes(BYTES)
}

#[test]
fn a_dry_pool_is_back_pressure_not_loss() {
    within(Duration::from_secs(90), || {
        let runtime = coring::Builder::new().read_buffers(4, 128).build().unwrap();
        assert!(
            matches!(runtime.read_path(), ReadPath::BufferRing { .. }),
            "{:?}",
            runtime.read_path()
        );
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let writers: Vec<_> = (0..CONNECTIONS)
                .map(|i| {
                    std::thread::spawn(move || {
                        let mut peer = std::net::TcpStream::connect(addr).unwrap();
                        peer.write_all(&(i as u32).to_le_bytes()).unwrap();
                        peer.write_all(&payload(i as u64)).unwrap();
                    })
                })
                .collect();
            let mut readers = Vec::new();
            for _ in 0..CONNECTIONS {
                let (stream, _) = listener.accept().await.unwrap();
                readers.push(coring::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut received = Vec::with_capacity(BYTES + 4);
                    let mut chunks = 0u32;
                    loop {
                        let available = reader.fill_buf().await.unwrap();
                        if available.is_empty() {
                            break;
                        }
                        received.extend_from_slice(available);
                        let n = available.len();
                        chunks += 1;
                        // Every 4th reader holds its buffer across a sleep now and then.
                        let id = received.first().copied().unwrap_or(0);
                        if id % 4 == 0 && chunks % 16 == 0 {
                            coring::time::sleep(Duration::from_millis(2)).await;
                        }
                        reader.consume(n);
                    }
                    assert!(reader.reads_through_pool());
                    received
                }));
            }
            let mut seen = [false; CONNECTIONS];
            for reader in readers {
                let received = reader.await.unwrap();
                let id = u32::from_le_bytes(received[..4].try_into().unwrap()) as usize;
                assert!(!seen[id], "connection {id} twice");
                seen[id] = true;
                assert!(
                    received[4..] == payload(id as u64)[..],
                    "connection {id}: {} bytes received of {BYTES}, or not the ones sent",
                    received.len() - 4
                );
            }
            for writer in writers {
                writer.join().unwrap();
            }
        });
    });
}
