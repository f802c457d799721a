//! A read into `Vec::with_capacity(n).slice(k..)` makes the Vec `k + read` long; the `k` bytes
//! before the slice were never written by anyone, so they must read as zeros, not as whatever
//! the allocator's block held before (which could be another connection's data). Each case
//! first fills and frees a block of the same size so the new Vec is likely to reuse it.

mod common;

use coring::buf::IoBuf;
use coring::net::UdpSocket;
use coring::time::timeout;
use std::time::Duration;

const CAPACITY: usize = 4096;
const OFFSET: usize = 4000;
const STALE: u8 = 0xAA;

/// A Vec with `CAPACITY` bytes of capacity and length 0, probably in a block that held `STALE`.
fn recycled_empty_vec() -> Vec<u8> {
    drop(std::hint::black_box(vec![STALE; CAPACITY]));
    Vec::with_capacity(CAPACITY)
}

fn assert_gap_zeroed_and_payload_kept(buf: &[u8], payload: &[u8]) {
    assert_eq!(buf.len(), OFFSET + payload.len());
    let stale = buf[..OFFSET].iter().filter(|&&b| b != 0).count();
    assert_eq!(stale, 0, "{stale} bytes before the slice were not zero");
    assert_eq!(&buf[OFFSET..], payload);
}

#[test]
fn tcp_read_and_readv_into_a_slice_past_len() {
    coring::block_on(async {
        timeout(Duration::from_secs(30), async {
            let (client, server) = common::tcp_pair().await;

            client.write_all(b"one".to_vec()).await.0.unwrap();
            let (n, slice) = server.read(recycled_empty_vec().slice(OFFSET..)).await;
            assert_eq!(n.unwrap(), 3);
            assert_gap_zeroed_and_payload_kept(&slice.into_inner(), b"one");

            client.write_all(b"two".to_vec()).await.0.unwrap();
            let (n, mut slices) = server
                .readv(vec![recycled_empty_vec().slice(OFFSET..)])
                .await;
            assert_eq!(n.unwrap(), 3);
            let buf = slices.pop().unwrap().into_inner();
            assert_gap_zeroed_and_payload_kept(&buf, b"two");
        })
        .await
        .expect("reads hung");
    });
}

#[test]
fn udp_recv_from_into_a_slice_past_len() {
    coring::block_on(async {
        timeout(Duration::from_secs(30), async {
            let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = receiver.local_addr().unwrap();
            sender.send_to(b"three".to_vec(), to).await.0.unwrap();
            let (got, slice) = receiver
                .recv_from(recycled_empty_vec().slice(OFFSET..))
                .await;
            let (n, from) = got.unwrap();
            assert_eq!((n, from), (5, sender.local_addr().unwrap()));
            assert_gap_zeroed_and_payload_kept(&slice.into_inner(), b"three");
        })
        .await
        .expect("recv hung");
    });
}
