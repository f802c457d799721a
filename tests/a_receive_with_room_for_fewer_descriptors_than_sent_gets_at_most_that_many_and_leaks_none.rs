//! `recv_with_fds(buf, max_fds)` promises at most `max_fds` descriptors, the kernel closing the
//! rest. The control buffer is rounded up to whole `u64`s, so the kernel may fit one more.

mod common;

use common::process::open_fds;
use coring::net::UnixStream;
use std::os::fd::AsFd;

#[test]
fn a_receive_with_room_for_fewer_descriptors_than_sent_gets_at_most_that_many_and_leaks_none() {
    let _watchdog = common::Watchdog::new(30, "recv_with_fds max_fds");
    coring::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let files: Vec<std::fs::File> = (0..5)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let before = open_fds();
        for max_fds in [1usize, 2, 3] {
            let borrowed: Vec<_> = files.iter().map(|f| f.as_fd()).collect();
            let (n, _) = a.send_with_fds(b"x".to_vec(), &borrowed).await;
            assert_eq!(n.unwrap(), 1);
            let (got, _) = b.recv_with_fds(Vec::with_capacity(8), max_fds).await;
            let (n, fds) = got.unwrap();
            assert_eq!(n, 1);
            assert!(
                fds.len() <= max_fds,
                "asked for at most {max_fds} descriptors, got {}",
                fds.len()
            );
            drop(fds);
            assert_eq!(
                open_fds(),
                before,
                "a descriptor leaked (max_fds {max_fds})"
            );
        }
    });
}
