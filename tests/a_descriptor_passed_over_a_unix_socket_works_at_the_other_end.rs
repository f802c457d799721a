//! A pipe's write end passed over a Unix stream (SCM_RIGHTS through sendmsg/recvmsg on the ring)
//! arrives as a working, close-on-exec `OwnedFd`: bytes written through it come out of the
//! pipe's read end, even though the sender closed its own copy right after sending. The same
//! works on a datagram pair, and several descriptors travel in one message.

mod common;

use common::Watchdog;
use coring::net::{UnixDatagram, UnixStream};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

/// A pipe, as (read end, write end), both close-on-exec.
fn pipe() -> (std::fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

fn is_cloexec(fd: &OwnedFd) -> bool {
    // SAFETY: F_GETFD on an open descriptor reads its flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    flags & libc::FD_CLOEXEC != 0
}

#[test]
fn a_descriptor_passed_over_a_unix_socket_works_at_the_other_end() {
    let _dog = Watchdog::new(
        30,
        "a_descriptor_passed_over_a_unix_socket_works_at_the_other_end",
    );
    coring::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut read_end, write_end) = pipe();
        let (sent, _) = a
            .send_with_fds(b"here".to_vec(), &[write_end.as_fd()])
            .await;
        assert_eq!(sent.unwrap(), 4);
        drop(write_end); // only the passed copy is left

        let (r, buf) = b.recv_with_fds(Vec::with_capacity(16), 4).await;
        let (n, fds) = r.unwrap();
        assert_eq!(&buf[..n], b"here");
        assert_eq!(fds.len(), 1);
        assert!(
            is_cloexec(&fds[0]),
            "a received descriptor must be close-on-exec"
        );
        let mut passed = std::fs::File::from(fds.into_iter().next().unwrap());
        passed.write_all(b"through the passed fd").unwrap();
        drop(passed); // the last write end: the pipe reads to end of file
        let mut got = String::new();
        read_end.read_to_string(&mut got).unwrap();
        assert_eq!(got, "through the passed fd");

        // Datagrams: three descriptors in one message, each a working copy.
        let (x, y) = UnixDatagram::pair().unwrap();
        let pipes: Vec<_> = (0..3).map(|_| pipe()).collect();
        let ends: Vec<_> = pipes.iter().map(|(_, w)| w.as_fd()).collect();
        x.send_with_fds(b"three".to_vec(), &ends).await.0.unwrap();
        let (r, buf) = y.recv_with_fds(Vec::with_capacity(16), 8).await;
        let (n, fds) = r.unwrap();
        assert_eq!((&buf[..n], fds.len()), (&b"three"[..], 3));
        for (i, ((mut read_end, write_end), fd)) in pipes.into_iter().zip(fds).enumerate() {
            drop(write_end);
            std::fs::File::from(fd)
                .write_all(format!("pipe {i}").as_bytes())
                .unwrap();
            let mut got = String::new();
            read_end.read_to_string(&mut got).unwrap();
            assert_eq!(got, format!("pipe {i}"));
        }

        // An empty buffer cannot carry or take descriptors on a stream: a clear error.
        let (err, _) = b.recv_with_fds(Vec::new(), 4).await;
        assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        let (_read, write_end) = pipe();
        let (err, _) = a.send_with_fds(Vec::new(), &[write_end.as_fd()]).await;
        assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    });
}
