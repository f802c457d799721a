//! A server example's "listening on" line is the moment a supervisor (or a test) may rely on
//! it: a `SIGINT` sent the instant the line appears, before any connection, must still stop
//! the server, whatever the number of workers. (Each worker listens for the signal; a worker
//! that had not yet made its handle when the line was printed never saw such a signal, and
//! the server ran on for good.)

mod common;

use common::examples::{build_example, start_server};
use common::Watchdog;
use std::time::Duration;

/// Starts and at once interrupts the echo server `rounds` times with `args`; fails on the first
/// round whose server does not exit 0.
fn stops_at_once(args: &[&str], rounds: usize) {
    let program = build_example("echo_server");
    for round in 0..rounds {
        let mut server = start_server(&program, args);
        server.signal(libc::SIGINT);
        // Generous: a stopping server with no connection exits at once on an idle machine.
        let status = server.wait_exit(Duration::from_secs(30));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "round {round}: the server interrupted right after its listening line did not \
             exit 0 ({status:?}: None means it still ran 30 s later)"
        );
    }
}

#[test]
fn one_worker() {
    let _dog = Watchdog::new(600, "SIGINT right after the listening line, 1 worker");
    stops_at_once(&[], 20);
}

#[test]
fn two_workers() {
    let _dog = Watchdog::new(600, "SIGINT right after the listening line, 2 workers");
    stops_at_once(&["--workers", "2"], 20);
}
