//! A `recv_with_fds` whose future is dropped after the kernel delivered bytes and descriptors to
//! it closes those descriptors (no fd leaks), and the stream then reports the lost bytes
//! instead of carrying on with a gap. On a datagram pair the same drop leaks nothing either.

mod common;

use common::{open_fds, poll_once, Watchdog};
use coring::net::{UnixDatagram, UnixStream};
use std::os::fd::AsFd;
use std::time::Duration;

#[test]
fn a_dropped_unix_receive_closes_the_descriptors_it_got() {
    if common::skip::io_uring_only("a_dropped_unix_receive_closes_the_descriptors_it_got") {
        return;
    }
    let _dog = Watchdog::new(30, "a_dropped_unix_receive_closes_the_descriptors_it_got");
    coring::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (x, y) = UnixDatagram::pair().unwrap();
        let passed = std::fs::File::open("/dev/null").unwrap();
        let baseline = open_fds();

        // In flight, then the descriptors arrive, then the future is dropped unpolled.
        let mut recv = Box::pin(b.recv_with_fds(Vec::with_capacity(16), 4));
        assert!(poll_once(recv.as_mut()).await.is_none());
        coring::time::sleep(Duration::from_millis(20)).await; // submitted and waiting
        let fds = [passed.as_fd(), passed.as_fd(), passed.as_fd()];
        a.send_with_fds(b"xyz".to_vec(), &fds).await.0.unwrap();
        coring::time::sleep(Duration::from_millis(20)).await; // the receive completed
        drop(recv);

        let mut dgram = Box::pin(y.recv_with_fds(Vec::with_capacity(16), 4));
        assert!(poll_once(dgram.as_mut()).await.is_none());
        coring::time::sleep(Duration::from_millis(20)).await;
        x.send_with_fds(b"d".to_vec(), &fds).await.0.unwrap();
        coring::time::sleep(Duration::from_millis(20)).await;
        drop(dgram);

        // Whether each receive completed or its cancel won, nothing may stay open: drain what
        // the socket still holds (if the cancel won) and let the ring finish the cancels.
        let (stream_lost, _) = b.read(Vec::with_capacity(16)).await;
        coring::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            open_fds(),
            baseline,
            "descriptors of a dropped receive leaked"
        );
        // The stream read had taken "xyz": the next read says so rather than skipping it.
        let err = stream_lost.unwrap_err();
        assert!(err.to_string().contains("cancel"), "{err}");
    });
}
