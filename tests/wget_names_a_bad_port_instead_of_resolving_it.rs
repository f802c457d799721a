//! `wget HOST:PORT` with a port that is no port (`70000`, `http`) must say the port is bad and
//! exit 1, without asking the resolver about a host called `HOST:PORT` (which only ends in a
//! confusing "failed to resolve").

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::process::{Command, Stdio};

#[test]
fn a_port_out_of_range_or_not_a_number_is_named() {
    let _watchdog = Watchdog::new(300, "wget with a bad port");
    let wget = build_example("wget");
    for arg in [
        "localhost:70000",
        "127.0.0.1:65536",
        "localhost:http",
        "localhost:",
    ] {
        let output = Command::new(&wget)
            .args([arg, "--timeout", "10"])
            .stdin(Stdio::null())
            .output()
            .expect("run the wget example");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let port = arg.rsplit_once(':').unwrap().1;
        assert_eq!(output.status.code(), Some(1), "{arg}: {stdout}");
        assert!(
            stdout.contains(&format!("{arg} error > invalid port '{port}'")),
            "{arg}: {stdout}"
        );
        assert!(!stdout.contains("resolve"), "{arg}: {stdout}");
    }
}
