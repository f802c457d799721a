//! The halves of a split `UnixStream` keep what only Unix streams have: the writing half sends
//! descriptors (`send_with_fds`), the reading half receives them (`recv_with_fds`), and both
//! tell the peer's credentials (`peer_cred`), as the whole stream does.

mod common;

use common::Watchdog;
use coring::net::UnixStream;
use std::io::Read;
use std::os::fd::AsFd;

#[test]
fn unix_stream_halves_pass_descriptors_and_know_their_peer() {
    let _dog = Watchdog::new(30, "unix_stream_halves_pass_descriptors");
    coring::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (a_read, a_write) = a.into_split();
        let (b_read, b_write) = b.into_split();
        let pid = Some(std::process::id() as i32);
        for cred in [
            a_read.peer_cred().unwrap(),
            a_write.peer_cred().unwrap(),
            b_read.peer_cred().unwrap(),
            b_write.peer_cred().unwrap(),
        ] {
            assert_eq!(cred.pid(), pid);
        }

        let file = std::fs::File::open("/proc/self/cmdline").unwrap();
        let (sent, _) = a_write.send_with_fds(b"fd".to_vec(), &[file.as_fd()]).await;
        assert_eq!(sent.unwrap(), 2);
        drop(file);
        let (got, buf) = b_read.recv_with_fds(Vec::with_capacity(8), 2).await;
        let (n, fds) = got.unwrap();
        assert_eq!(&buf[..n], b"fd");
        assert_eq!(fds.len(), 1);
        let mut passed = std::fs::File::from(fds.into_iter().next().unwrap());
        let mut cmdline = Vec::new();
        passed.read_to_end(&mut cmdline).unwrap();
        assert!(!cmdline.is_empty(), "the passed descriptor reads nothing");

        // And the other way round.
        let (sent, _) = b_write.send_with_fds(b"x".to_vec(), &[]).await;
        assert_eq!(sent.unwrap(), 1);
        let (got, _) = a_read.recv_with_fds(Vec::with_capacity(8), 2).await;
        assert_eq!(got.unwrap().1.len(), 0);
    });
}
