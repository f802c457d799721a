//! Two streams receive through one buffer ring. Stream A's reader takes one chunk and then stops
//! calling `next` (as a server stuck writing to a client that does not read), while A's peer
//! keeps sending. A may hold only its share of the ring, so stream B, whose reader is active,
//! still gets buffers and receives. Nothing is lost on A: once its reader comes back, it reads
//! every byte, in order.

mod common;

use common::{tcp_pair, Watchdog};
use coring::buf::BufRing;
use coring::time::{sleep, timeout};
use std::time::Duration;

const RING: u16 = 16;
const BUF: usize = 1024;
const WRITES: usize = 48;

#[test]
fn a_reader_that_stops_reading_cannot_take_a_shared_buffer_ring_from_the_others() {
    if common::skip::io_uring_only(
        "a_reader_that_stops_reading_cannot_take_a_shared_buffer_ring_from_the_others",
    ) {
        return;
    }
    let _watchdog = Watchdog::new(60, "a_reader_that_stops_reading_cannot_take_the_ring");
    coring::block_on(async {
        let ring = BufRing::new(RING, BUF).unwrap();
        let (a_client, a_server) = tcp_pair().await;
        let (b_client, b_server) = tcp_pair().await;
        let mut a = a_server.recv_stream(&ring);
        let mut b = b_server.recv_stream(&ring);

        // A's reader takes a chunk, keeps it, and stops reading.
        a_client.write_all(vec![0u8; BUF]).await.0.unwrap();
        let first = a.next().await.unwrap().unwrap();
        let mut a_bytes = first.to_vec();
        // A's peer goes on sending, one buffer's worth at a time.
        for i in 1..WRITES {
            a_client.write_all(vec![i as u8; BUF]).await.0.unwrap();
            sleep(Duration::from_millis(2)).await;
        }

        // B is served.
        b_client.write_all(b"hello".to_vec()).await.0.unwrap();
        let chunk = timeout(Duration::from_secs(5), b.next())
            .await
            .expect("stream B starved: stream A took every buffer of the shared ring")
            .unwrap()
            .unwrap();
        assert_eq!(&chunk[..], b"hello");

        // A's reader comes back: every byte is there, in order.
        drop(first);
        while a_bytes.len() < WRITES * BUF {
            let chunk = timeout(Duration::from_secs(5), a.next())
                .await
                .expect("stream A's bytes did not come")
                .unwrap()
                .unwrap();
            a_bytes.extend_from_slice(&chunk);
        }
        let expected: Vec<u8> = (0..WRITES).flat_map(|i| vec![i as u8; BUF]).collect();
        assert!(
            a_bytes == expected,
            "stream A's bytes came out of order or changed"
        );
    });
}
