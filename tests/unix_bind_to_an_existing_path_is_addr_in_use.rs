//! Binding a Unix socket where a file already exists (a live listener's socket, a stale socket
//! file, a regular file) or to a taken abstract name is `AddrInUse`, naming the path; nothing
//! is removed.

mod common;

use common::unix::{abstract_name, SocketDir};
use coring::net::{UnixDatagram, UnixListener};
use std::io::ErrorKind;

#[test]
fn unix_bind_to_an_existing_path_is_addr_in_use() {
    let dir = SocketDir::new("unix-addr-in-use");
    let live = dir.path("live.sock");
    let _listener = UnixListener::bind(&live).unwrap();
    let stale = dir.path("stale.sock");
    drop(UnixListener::bind(&stale).unwrap()); // leaves its file behind
    let regular = dir.path("regular");
    std::fs::write(&regular, b"keep me").unwrap();

    for path in [&live, &stale, &regular] {
        let err = UnixListener::bind(path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        let err = UnixDatagram::bind(path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    }
    assert_eq!(std::fs::read(&regular).unwrap(), b"keep me");

    let name = abstract_name("addr-in-use");
    let _taken = UnixListener::bind(&name).unwrap();
    let err = UnixListener::bind(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

    // A path in a directory that does not exist is NotFound; too long a path InvalidInput.
    let err = UnixListener::bind(dir.path("no/such/dir.sock")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = UnixListener::bind(dir.path(&"x".repeat(200))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}
