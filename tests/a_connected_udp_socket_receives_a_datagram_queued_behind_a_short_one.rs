//! On the readiness backend a stream read that takes less than its room marks the fd drained,
//! and the next read waits for epoll's next edge instead of trying (`driver/epoll`). A datagram
//! shorter than the buffer says nothing about the next one, so if a UDP receive took
//! that verdict, a second datagram queued behind a short one (both arrived with one edge) would
//! wait for an edge that never comes: a hang. It does not, because only stream reads report a
//! short read (`op/recv.rs`); this test keeps it so (with UDP receives made to report one, it
//! failed: "Epoll, round 0: the datagram queued behind a short one was never received"). The
//! receives here register the socket (the first waits before anything is sent), then take two
//! short datagrams sent back to back, round after round, on every backend.

mod common;

use common::datagrams::{connected_pair, round_datagrams, send_round_soon};
use common::{backends, within, Watchdog};
use coring::net::UdpSocket;
use std::time::Duration;

const ROUNDS: usize = 50;

#[test]
fn a_connected_udp_socket_receives_a_datagram_queued_behind_a_short_one() {
    let _dog = Watchdog::new(120, "UDP datagrams queued behind short ones");
    for backend in backends() {
        within(Duration::from_secs(30), move || receive_pairs(backend));
    }
}

fn receive_pairs(backend: coring::Backend) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    runtime.block_on(async {
        let (peer, socket) = connected_pair();
        let socket = UdpSocket::from_std(socket).unwrap();
        let mut buf = Vec::with_capacity(1500);
        for round in 0..ROUNDS {
            let (first, second) = round_datagrams(round);
            let send = send_round_soon(&peer, round);
            buf.clear();
            let (n, back) = socket.recv(buf).await;
            assert_eq!(
                &back[..n.unwrap()],
                &first,
                "{backend:?}: the first datagram"
            );
            buf = back;
            buf.clear();
            let received = coring::time::timeout(Duration::from_secs(5), socket.recv(buf)).await;
            let (n, back) = received.unwrap_or_else(|_| {
                panic!(
                    "{backend:?}, round {round}: the datagram queued behind a short one was \
                     never received"
                )
            });
            assert_eq!(
                &back[..n.unwrap()],
                &second,
                "{backend:?}: the second datagram"
            );
            buf = back;
            send.join().unwrap();
        }
    });
}
