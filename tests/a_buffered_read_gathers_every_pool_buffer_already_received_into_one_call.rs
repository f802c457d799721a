//! `BufReader::read` on the ring path hands out every pool buffer already received, not one
//! per call: a message that arrived in several pool buffers (1 KiB each here) comes out of one
//! read into a buffer large enough for it, so an echo written as `read` then `write_all`
//! answers it with one send. Bytes still come out exactly as sent, across buffer boundaries
//! and across reads whose buffer is smaller than what is waiting.

mod common;

use common::{within, Xorshift};
use coring::io::{AsyncReadRent, BufReader};
use coring::net::TcpListener;
use coring::time::sleep;
use std::io::Write;
use std::time::Duration;

const POOL_BUFFER: usize = 1024;
/// Four pool buffers: a reader's share of the 16-buffer ring, so all can wait received.
const MESSAGE: usize = 4 * POOL_BUFFER;
const MESSAGES: usize = 20;

#[test]
fn one_read_gathers_the_pool_buffers_already_received() {
    within(Duration::from_secs(60), || {
        let runtime = coring::Builder::new()
            .read_buffers(16, POOL_BUFFER)
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let sent = Xorshift::new(19).bytes(MESSAGE * MESSAGES);
            let to_send = sent.clone();
            let peer = std::thread::spawn(move || {
                let mut peer = std::net::TcpStream::connect(addr).unwrap();
                peer.write_all(&to_send[..MESSAGE]).unwrap();
                // The rest once the first message is read (the test signals by reading).
                std::thread::sleep(Duration::from_millis(300));
                peer.write_all(&to_send[MESSAGE..]).unwrap();
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(stream);

            // A first byte arms the receive; then the whole message lands in pool buffers.
            let (n, mut received) = reader.read(Vec::with_capacity(1)).await;
            let k = n.unwrap();
            assert!(k > 0);
            assert!(reader.reads_through_pool());
            sleep(Duration::from_millis(100)).await;
            let (n, first) = reader.read(Vec::with_capacity(2 * MESSAGE)).await;
            let n = n.unwrap();
            assert_eq!(
                n,
                MESSAGE - k,
                "one read handed out {n} bytes of the {} received in {} pool buffers",
                MESSAGE - k,
                MESSAGE / POOL_BUFFER
            );
            received.extend_from_slice(&first);

            // The rest, through reads of odd sizes that cut pool buffers anywhere.
            let mut sizes = Xorshift::new(7);
            while received.len() < sent.len() {
                let want = 1 + sizes.up_to(3 * POOL_BUFFER);
                let (n, chunk) = reader.read(Vec::with_capacity(want)).await;
                let n = n.unwrap();
                assert!(n > 0, "end of stream after {} bytes", received.len());
                received.extend_from_slice(&chunk);
            }
            assert!(
                received == sent,
                "the bytes came out changed or out of order"
            );
            peer.join().unwrap();
            let (n, _) = reader.read(Vec::with_capacity(16)).await;
            assert_eq!(n.unwrap(), 0, "the end of the stream after every byte");
        });
    });
}
