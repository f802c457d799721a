//! A read into a buffer with no room cannot read anything; the `AsyncReadRent` contract and
//! `TcpStream::read`'s docs say it returns `Ok(0)` at once. Before the fix, `read(Vec::new())`
//! and `readv(vec![])` submitted a zero-length receive that stayed pending until the peer sent
//! something (issue 18, item 9).

mod common;

use common::{tcp_pair, Watchdog};
use coring::buf::{FixedBufPool, IoBuf};
use coring::time::timeout;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(2);

#[test]
fn reads_with_no_room_return_zero_at_once_while_the_peer_is_silent() {
    let _watchdog = Watchdog::new(60, "reads_with_no_room_return_zero_at_once");
    coring::block_on(async {
        let (client, _server) = tcp_pair().await;
        let (n, _) = timeout(PATIENCE, client.read(Vec::new()))
            .await
            .expect("read(Vec::new()) waited for data");
        assert_eq!(n.unwrap(), 0);

        let full = b"full".to_vec();
        let (n, _) = timeout(PATIENCE, client.read(full.slice(4..4)))
            .await
            .expect("a read into an empty slice waited for data");
        assert_eq!(n.unwrap(), 0);

        let (n, _) = timeout(PATIENCE, client.readv(Vec::<Vec<u8>>::new()))
            .await
            .expect("readv(vec![]) waited for data");
        assert_eq!(n.unwrap(), 0);

        let (n, _) = timeout(PATIENCE, client.readv(vec![Vec::new(), Vec::new()]))
            .await
            .expect("readv of empty buffers waited for data");
        assert_eq!(n.unwrap(), 0);

        let pool = FixedBufPool::new(1, 4096).unwrap();
        let fixed = pool.try_take().unwrap().slice(0..0);
        let (n, _) = timeout(PATIENCE, client.read_fixed(fixed))
            .await
            .expect("read_fixed into an empty slice waited for data");
        assert_eq!(n.unwrap(), 0);
    });
}
