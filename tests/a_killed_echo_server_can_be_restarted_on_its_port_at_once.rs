//! A server killed with SIGKILL is restarted on its port at once, as a supervisor does: the
//! kernel releases the old listening socket only when it tears down the dead process's
//! io_uring instance, a few milliseconds after the process is gone, so the example servers
//! retry their bind briefly at start-up instead of failing with `Address already in use`.

mod common;

use common::examples::{build_example, start_server, start_server_on};
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One echo through the server on `port`, so it has a connection and ops in flight.
fn echo_once(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"ping").unwrap();
    let mut echo = [0; 4];
    stream.read_exact(&mut echo).expect("the echo");
    assert_eq!(&echo, b"ping");
    stream
}

#[test]
fn a_sigkilled_echo_server_restarts_on_the_same_port_three_times() {
    let _watchdog = Watchdog::new(300, "echo_server restart after SIGKILL");
    let program = build_example("echo_server");
    let mut server = start_server(&program, &[]);
    let port = server.port;
    for round in 1..=3 {
        let _client = echo_once(port);
        drop(server); // SIGKILL, and reaped
        server = start_server_on(&program, port, &[])
            .unwrap_or_else(|why| panic!("restart {round}: {why}"));
        echo_once(port);
    }
}
