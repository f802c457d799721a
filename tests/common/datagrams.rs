//! Two short datagrams queued behind each other on a connected UDP pair: the case where a short
//! read must not be taken for a drained socket (the readiness backend's "drained" verdict).

use std::net::UdpSocket;
use std::thread::JoinHandle;
use std::time::Duration;

/// A std UDP socket and the socket it is connected to (and from), both on 127.0.0.1: the
/// first is the peer that sends, the second is for the test to wrap.
pub fn connected_pair() -> (UdpSocket, UdpSocket) {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(peer.local_addr().unwrap()).unwrap();
    peer.connect(socket.local_addr().unwrap()).unwrap();
    (peer, socket)
}

/// The two datagrams of `round` (5 and 7 bytes, different contents).
pub fn round_datagrams(round: usize) -> ([u8; 5], [u8; 7]) {
    ([round as u8; 5], [round as u8 ^ 0xff; 7])
}

/// Sends `round`'s two datagrams back to back from `peer` 2 ms from now, once the caller's
/// receive waits: both land with one readiness edge.
pub fn send_round_soon(peer: &UdpSocket, round: usize) -> JoinHandle<()> {
    let sender = peer.try_clone().unwrap();
    let (first, second) = round_datagrams(round);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2));
        sender.send(&first).unwrap();
        sender.send(&second).unwrap();
    })
}
