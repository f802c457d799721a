//! `echo_client --size 20000000 --duration 1` against `echo_server`: a message far larger than
//! the socket buffers is echoed while it is still being written, so the client must read while
//! it writes (writing it all first leaves both sides waiting on each other for ever), and
//! `--duration` is a deadline that cuts a round trip short, not only a check between them.

mod common;

use common::examples::{build_example, start_server};
use common::process::run_command;
use common::Watchdog;
use std::process::Command;
use std::time::Duration;

#[test]
fn twenty_megabyte_messages_are_echoed_and_the_client_stops_at_its_deadline() {
    let _watchdog = Watchdog::new(300, "echo_client with 20 MB messages");
    let server = start_server(&build_example("echo_server"), &[]);
    let mut client = Command::new(build_example("echo_client"));
    client.args(["--addr", &format!("127.0.0.1:{}", server.port)]);
    client.args([
        "--connections",
        "2",
        "--size",
        "20000000",
        "--duration",
        "1",
    ]);
    // Generous for a 1 s run on a busy machine; without the fix it never ends.
    let run = run_command(client, Duration::from_secs(60));
    assert!(!run.timed_out, "still running after 60 s\n{}", run.report());
    assert!(
        run.stdout.contains("failed connections: 0"),
        "{}",
        run.report()
    );
    assert!(!run.stderr.contains("failed"), "{}", run.report());
}
