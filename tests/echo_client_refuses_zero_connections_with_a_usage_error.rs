//! `echo_client --connections 0` has nothing to measure: it is a usage error (status 2, the
//! message names the option), not a run that prints "failed connections: 0" and exits 1.

mod common;

use common::examples::build_example;
use common::process::run_command;
use common::Watchdog;
use std::process::Command;
use std::time::Duration;

#[test]
fn zero_connections_is_a_usage_error() {
    let _watchdog = Watchdog::new(300, "echo_client --connections 0");
    let mut client = Command::new(build_example("echo_client"));
    // A port nothing listens on: no connection may even be tried.
    client.args(["--addr", "127.0.0.1:9", "--connections", "0"]);
    let run = run_command(client, Duration::from_secs(30));
    assert_eq!(run.status.code(), Some(2), "{}", run.report());
    assert!(run.stderr.contains("--connections"), "{}", run.report());
    assert!(!run.stdout.contains("requests:"), "{}", run.report());
}
