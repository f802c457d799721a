//! Connecting a Unix stream to a path where nothing exists is `NotFound`, naming the path; to a
//! socket file nobody listens on any more it is `ConnectionRefused`; to a free abstract name,
//! `ConnectionRefused` too (there is no file to miss).

mod common;

use common::unix::{abstract_name, SocketDir};
use coring::net::{UnixListener, UnixStream};
use std::io::ErrorKind;

#[test]
fn unix_connect_to_a_missing_path_is_not_found() {
    let dir = SocketDir::new("unix-not-found");
    coring::block_on(async move {
        let missing = dir.path("missing.sock");
        let err = UnixStream::connect(&missing).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("missing.sock"), "{err}");

        let stale = dir.path("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        let err = UnixStream::connect(&stale).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

        let err = UnixStream::connect(abstract_name("nobody"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    });
}
