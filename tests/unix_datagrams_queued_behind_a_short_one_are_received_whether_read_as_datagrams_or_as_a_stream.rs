//! Adversary: on the readiness backend a short stream read may mark an fd drained, and then the
//! next read waits for a new edge. A Unix datagram socket, received from as datagrams or
//! wrapped (safe `From<OwnedFd>`) as a `UnixStream`, gets two short datagrams with one edge:
//! the second must be read without a new one. 20 rounds each on every backend.

mod common;

use common::{backends, within, Watchdog};
use coring::net::{UnixDatagram, UnixStream};
use std::os::fd::OwnedFd;
use std::time::Duration;

const ROUNDS: usize = 20;

#[test]
fn unix_datagrams_queued_behind_a_short_one_are_received_whether_read_as_datagrams_or_as_a_stream()
{
    let _dog = Watchdog::new(120, "Unix datagrams queued behind short ones");
    for backend in backends() {
        within(Duration::from_secs(30), move || receive(backend));
    }
}

fn receive(backend: coring::Backend) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    runtime.block_on(async {
        let (ours, peer) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let (theirs, stream_peer) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let datagram = UnixDatagram::from_std(ours).unwrap();
        let stream =
            UnixStream::from_std(std::os::unix::net::UnixStream::from(OwnedFd::from(theirs)))
                .unwrap();
        for round in 0..ROUNDS {
            for (as_stream, sender) in [(false, &peer), (true, &stream_peer)] {
                let sender = sender.try_clone().unwrap();
                let first = [round as u8; 5];
                let second = [round as u8 ^ 0xff; 7];
                // Sent once the read below waits: both datagrams land with one edge.
                let send = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(2));
                    sender.send(&first).unwrap();
                    sender.send(&second).unwrap();
                });
                for expected in [&first[..], &second[..]] {
                    let read = async {
                        match as_stream {
                            true => stream.read(vec![0u8; 64]).await,
                            false => datagram.recv(vec![0u8; 64]).await,
                        }
                    };
                    let (n, back) = coring::time::timeout(Duration::from_secs(5), read)
                        .await
                        .unwrap_or_else(|_| {
                            panic!(
                                "{backend:?}, round {round}, as a stream: {as_stream}: a \
                                 datagram was never read"
                            )
                        });
                    assert_eq!(&back[..n.unwrap()], expected, "{backend:?}");
                }
                send.join().unwrap();
            }
        }
    });
}
