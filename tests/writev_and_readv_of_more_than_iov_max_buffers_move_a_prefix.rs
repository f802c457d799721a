//! `writev` and `readv` with more buffers than `IOV_MAX` (1024) must not fail with `EMSGSIZE`:
//! like std and tokio, they move a prefix (the first 1024 buffers) and report the count. Before
//! the fix both failed (issue 24, item 12).

mod common;

use common::{tcp_pair, Watchdog};

const BUFFERS: usize = 2000;
const IOV_MAX: usize = 1024;

#[test]
fn writev_and_readv_of_two_thousand_buffers_move_the_first_1024() {
    let _watchdog = Watchdog::new(60, "writev_and_readv_of_more_than_iov_max_buffers");
    coring::block_on(async {
        let (client, server) = tcp_pair().await;
        let bufs: Vec<Vec<u8>> = (0..BUFFERS).map(|i| vec![(i % 251) as u8]).collect();
        let (n, bufs) = client.writev(bufs).await;
        let n = n.expect("writev of 2000 buffers");
        println!("writev of {BUFFERS} one-byte buffers: {n}");
        assert_eq!(n, IOV_MAX, "the first IOV_MAX buffers, all of them");
        assert_eq!(bufs.len(), BUFFERS, "every buffer comes back");
        // The rest, so the reader has more than it can take in one readv.
        let (n, _) = client.writev(bufs[IOV_MAX..].to_vec()).await;
        assert_eq!(n.unwrap(), BUFFERS - IOV_MAX);

        // Wait until every byte is there, so one readv could take them all if it were allowed.
        let mut peeked = vec![std::mem::MaybeUninit::<u8>::uninit(); BUFFERS];
        while socket2::SockRef::from(&server).peek(&mut peeked).unwrap() < BUFFERS {
            coring::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (n, bufs) = server
            .readv((0..BUFFERS).map(|_| Vec::with_capacity(1)).collect())
            .await;
        let n = n.expect("readv into 2000 buffers");
        println!("readv into {BUFFERS} one-byte buffers: {n}");
        assert_eq!(n, IOV_MAX);
        for (i, buf) in bufs.iter().enumerate() {
            let expected: &[u8] = if i < IOV_MAX { &[(i % 251) as u8] } else { &[] };
            assert_eq!(&buf[..], expected, "buffer {i}");
        }
    });
}
