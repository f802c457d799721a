//! On Ctrl-C (`SIGINT`) the echo_server example, with one worker or two, stops accepting,
//! closes connections that have had everything echoed, and exits 0.

mod common;

use common::examples::{build_example, start_server};
use common::Watchdog;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn stops_cleanly(args: &[&str]) {
    let program = build_example("echo_server");
    let mut server = start_server(&program, args);
    let mut streams: Vec<TcpStream> = (0..4)
        .map(|_| {
            let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(15)))
                .unwrap();
            stream
        })
        .collect();
    for stream in &mut streams {
        stream.write_all(b"ping").unwrap();
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"ping");
    }
    server.signal(libc::SIGINT);
    for stream in &mut streams {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "unexpected bytes {rest:?}");
    }
    let status = server.wait_exit(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err());
}

#[test]
fn echo_server_stops_cleanly_on_sigint() {
    let _dog = Watchdog::new(300, "echo_server graceful shutdown");
    stops_cleanly(&[]);
}

#[test]
fn echo_server_with_two_workers_stops_cleanly_on_sigint() {
    let _dog = Watchdog::new(300, "echo_server graceful shutdown, 2 workers");
    stops_cleanly(&["--workers", "2"]);
}
