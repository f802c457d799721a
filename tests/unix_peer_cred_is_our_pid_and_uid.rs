//! `peer_cred` on both ends of a Unix connection (accepted and connected) and of a socket pair
//! names this process: its pid, uid and gid.

mod common;

use common::unix::abstract_name;
use coring::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::fs::MetadataExt;

#[test]
fn unix_peer_cred_is_our_pid_and_uid() {
    // /proc/self belongs to the process's effective uid and gid.
    let me = std::fs::metadata("/proc/self").unwrap();
    let (pid, uid, gid) = (std::process::id() as i32, me.uid(), me.gid());
    coring::block_on(async move {
        let name = abstract_name("peer-cred");
        let listener = UnixListener::bind(&name).unwrap();
        let client = UnixStream::connect(&name).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        for cred in [client.peer_cred().unwrap(), server.peer_cred().unwrap()] {
            assert_eq!((cred.pid(), cred.uid(), cred.gid()), (Some(pid), uid, gid));
        }
        let (a, _b) = UnixDatagram::pair().unwrap();
        assert_eq!(a.peer_cred().unwrap().pid(), Some(pid));
        // An unconnected socket has no peer.
        assert!(
            UnixDatagram::unbound()
                .unwrap()
                .peer_cred()
                .is_ok_and(|c| c.pid().is_none())
                || UnixDatagram::unbound().unwrap().peer_cred().is_err()
        );
    });
}
