//! Adversary (BufWriter's parked send): the runtime is dropped while a dropped flush's send is
//! parked in the writer (it holds a clone of the socket), then the writer is dropped outside any
//! runtime. Every descriptor must be closed: the socket, and the runtime's own. On both
//! backends, several rounds, so one leaked fd per round shows.

mod common;

use common::process::{open_fds, open_fds_settled};
use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
use coring::net::TcpStream;
use coring::Backend;
use std::time::Duration;

const LEN: usize = 256 * 1024;
const ROUNDS: usize = 5;

fn round(backend: Backend) {
    let (client, server) = common::small_window_pair();
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let writer = runtime.block_on(async {
        let mut writer = BufWriter::with_capacity(2 * LEN, TcpStream::from_std(server).unwrap());
        writer.write_all(vec![7u8; LEN]).await.0.unwrap();
        let flush = coring::time::timeout(Duration::from_millis(50), writer.flush()).await;
        assert!(flush.is_err(), "{backend:?}: the flush waits for the peer");
        writer
    });
    drop(runtime);
    drop(writer);
    drop(client);
}

#[test]
fn a_buf_writer_dropped_after_its_runtime_with_a_send_parked_leaks_no_fd() {
    within(Duration::from_secs(60), || {
        for backend in common::backends() {
            round(backend); // warms up what a first runtime opens once (pools, caches)
            let before = open_fds();
            for _ in 0..ROUNDS {
                round(backend);
            }
            let after = open_fds_settled(before, Duration::from_secs(2));
            assert_eq!(after, before, "{backend:?}: fds open after {ROUNDS} rounds");
        }
    });
}
