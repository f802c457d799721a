//! Adversary: `TcpStream::from_std` takes any `std::net::TcpStream`, and safe Rust makes one of
//! any socket (`From<OwnedFd>`): here a connected UDP socket. Its reads are stream reads, so on
//! the readiness backend a datagram shorter than the buffer reported "drained" for an inet
//! socket (the fd table asked whether the socket is inet, not whether it is TCP), and the read
//! of a second datagram, queued behind the first with no new edge to come, waited forever.
//! A short read may only count as drained on TCP. Both backends, 20 rounds.

mod common;

use common::datagrams::{connected_pair, round_datagrams, send_round_soon};
use common::{backends, within, Watchdog};
use coring::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::Duration;

const ROUNDS: usize = 20;

#[test]
fn a_udp_socket_wrapped_as_a_stream_reads_a_datagram_queued_behind_a_short_one() {
    let _dog = Watchdog::new(120, "UDP wrapped as a stream");
    for backend in backends() {
        within(Duration::from_secs(30), move || read_pairs(backend));
    }
}

fn read_pairs(backend: coring::Backend) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    runtime.block_on(async {
        let (peer, udp) = connected_pair();
        let stream = TcpStream::from_std(std::net::TcpStream::from(OwnedFd::from(udp))).unwrap();
        for round in 0..ROUNDS {
            let (first, second) = round_datagrams(round);
            let send = send_round_soon(&peer, round);
            let (n, back) = stream.read(vec![0u8; 64]).await;
            assert_eq!(
                &back[..n.unwrap()],
                &first,
                "{backend:?}: the first datagram"
            );
            let read = coring::time::timeout(Duration::from_secs(5), stream.read(back)).await;
            let (n, back) = read.unwrap_or_else(|_| {
                panic!(
                    "{backend:?}, round {round}: the datagram queued behind a short one was \
                     never read"
                )
            });
            assert_eq!(
                &back[..n.unwrap()],
                &second,
                "{backend:?}: the second datagram"
            );
            send.join().unwrap();
        }
    });
}
