//! Binding a Unix socket to an empty path makes Linux "autobind" it to a random abstract name
//! instead of failing: a server given an empty path from a config file would listen somewhere
//! no client can find, and say nothing. `UnixListener::bind("")` and `UnixDatagram::bind("")`
//! are `InvalidInput` (a socket with no name is `UnixDatagram::unbound()`).

use coring::net::{UnixDatagram, UnixListener};
use std::io::ErrorKind;

#[test]
fn unix_bind_to_an_empty_path_is_invalid_input() {
    coring::block_on(async {
        match UnixListener::bind("") {
            Ok(listener) => panic!("bound to {:?}", listener.local_addr()),
            Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}"),
        }
        match UnixDatagram::bind("") {
            Ok(socket) => panic!("bound to {:?}", socket.local_addr()),
            Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}"),
        }
    });
}
