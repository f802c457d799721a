//! The two seed programs, run as real processes: `producer_consumer` prints the seed's fifteen
//! lines exactly, and `hello` prints its four lines in order, the second pair about one second
//! after the first (the two one-second sleeps overlap), in 0.9–1.6 s in all.
//!
//! The examples are built with the same `cargo` that runs this test (release, offline), then
//! their binaries are run directly, so the timing measures the program and not cargo.

mod common;

use common::Watchdog;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The seed's output (`asyncio-tutorial.md`), byte for byte: note the space after "200 OK".
const SEED_PRODUCER_CONSUMER: &str = "\
[PRODUCER] Producing 1...
[CONSUMER] Consuming 1...
[PRODUCER] Consumer return: 200 OK 
[PRODUCER] Producing 2...
[CONSUMER] Consuming 2...
[PRODUCER] Consumer return: 200 OK 
[PRODUCER] Producing 3...
[CONSUMER] Consuming 3...
[PRODUCER] Consumer return: 200 OK 
[PRODUCER] Producing 4...
[CONSUMER] Consuming 4...
[PRODUCER] Consumer return: 200 OK 
[PRODUCER] Producing 5...
[CONSUMER] Consuming 5...
[PRODUCER] Consumer return: 200 OK 
";

/// Builds both examples once (per test process) and returns the path of each executable.
fn examples() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output = Command::new(env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--release",
                "--quiet",
                "--offline",
                "--message-format=json-render-diagnostics",
                "--example",
                "hello",
                "--example",
                "producer_consumer",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build for the examples");
        assert!(output.status.success(), "building the examples failed");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let find = |name: &str| {
            stdout
                .lines()
                .filter(|line| line.contains("\"reason\":\"compiler-artifact\""))
                .filter(|line| line.contains(&format!("\"name\":\"{name}\"")))
                .find_map(|line| {
                    let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
                    let end = start + line[start..].find('"')?;
                    Some(PathBuf::from(&line[start..end]))
                })
                .unwrap_or_else(|| panic!("cargo reported no executable for example {name}"))
        };
        (find("hello"), find("producer_consumer"))
    })
}

#[test]
fn producer_consumer_prints_the_seed_lines_exactly() {
    let _watchdog = Watchdog::new(600, "producer_consumer_prints_the_seed_lines_exactly");
    let (_, producer_consumer) = examples();
    let output = Command::new(producer_consumer)
        .stdin(Stdio::null())
        .output()
        .expect("run producer_consumer");
    assert!(
        output.status.success(),
        "producer_consumer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 15, "fifteen lines:\n{stdout}");
    for (n, (got, want)) in stdout
        .lines()
        .zip(SEED_PRODUCER_CONSUMER.lines())
        .enumerate()
    {
        assert_eq!(got, want, "line {}", n + 1);
    }
    assert_eq!(stdout, SEED_PRODUCER_CONSUMER);
}

#[test]
fn hello_prints_four_lines_in_order_in_about_one_second() {
    let _watchdog = Watchdog::new(600, "hello_prints_four_lines_in_order_in_about_one_second");
    let (hello, _) = examples();
    let start = Instant::now();
    let mut child = Command::new(hello)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hello");
    // Stamp each line as it arrives (Rust's stdout is line-buffered, even into a pipe).
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        lines.push((line.expect("utf-8 output"), start.elapsed()));
    }
    let status = child.wait().expect("wait for hello");
    let took = start.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "hello failed: {stderr}");

    let expected = [
        "Hello1 world!",
        "Hello2 world!",
        "Hello1 again!",
        "Hello2 again!",
    ];
    assert_eq!(lines.len(), 4, "four lines: {lines:?}");
    for ((line, _), want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(want),
            "expected {want:?} (then the thread), got {line:?}; all: {lines:?}"
        );
        // "(<thread name>, ThreadId(..))": the same single thread for all four.
        let thread = &line[want.len()..];
        assert_eq!(thread, &lines[0].0["Hello1 world!".len()..], "{lines:?}");
    }
    let (world, again) = (lines[1].1, lines[2].1);
    eprintln!(
        "hello: lines at {:?}; exit after {took:?}",
        lines.iter().map(|(_, t)| *t).collect::<Vec<_>>()
    );
    assert!(world < Duration::from_millis(500), "slow start: {lines:?}");
    let gap = again - world;
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_millis(1_400),
        "the 'again' lines come one sleep (not two) after the 'world' lines: {gap:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took <= Duration::from_millis(1_600),
        "hello took {took:?}, expected about one second"
    );
}
