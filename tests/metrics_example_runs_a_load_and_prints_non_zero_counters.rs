//! `examples/metrics.rs`, run as a user would: it serves an echo load on loopback, exits 0, and
//! prints the runtime's metrics with the load visible in them (submissions, `io_uring_enter`
//! calls and task polls are not zero), then each worker's metrics of a two-worker runtime,
//! where the cross-core ping-pong shows as `MSG_RING` wake-ups sent.

mod common;

use common::examples::build_example;
use common::Watchdog;
use std::collections::HashMap;
use std::process::Command;

/// The `name: value` lines of each `== title` section of the example's output.
fn sections(stdout: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut out: Vec<(String, HashMap<String, String>)> = Vec::new();
    for line in stdout.lines() {
        if let Some(title) = line.strip_prefix("== ") {
            out.push((title.to_owned(), HashMap::new()));
        } else if let (Some((_, fields)), Some((name, value))) =
            (out.last_mut(), line.trim().split_once(": "))
        {
            fields.insert(name.to_owned(), value.to_owned());
        }
    }
    out
}

fn number(fields: &HashMap<String, String>, name: &str) -> u64 {
    let value = fields
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` line in {fields:?}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("`{name}: {value}` is not a number"))
}

#[test]
fn metrics_example_runs_a_load_and_prints_non_zero_counters() {
    let _watchdog = Watchdog::new(
        600,
        "metrics_example_runs_a_load_and_prints_non_zero_counters",
    );
    let example = build_example("metrics");
    let output = Command::new(example)
        .args(["--connections", "4", "--rounds", "100"])
        .output()
        .expect("run the metrics example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the example failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let sections = sections(&stdout);
    assert_eq!(sections.len(), 3, "one runtime and two workers:\n{stdout}");

    let (_, single) = &sections[0];
    // On epoll (`CORING_BACKEND=epoll`) nothing is submitted and no `MSG_RING` is sent: the
    // ring-only counters stay 0 and those that apply (enters, completions) must show the load.
    let on_ring = single.get("backend").map(String::as_str) == Some("IoUring");
    for name in ["enters", "completions", "tasks_polled"] {
        assert!(number(single, name) > 0, "{name} is 0:\n{stdout}");
    }
    if on_ring {
        // 4 clients x 100 rounds, each a write and at least one read on both sides.
        assert!(number(single, "sqes_submitted") >= 1600, "{stdout}");
    } else {
        assert_eq!(
            single.get("backend").map(String::as_str),
            Some("Epoll"),
            "{stdout}"
        );
        assert_eq!(number(single, "sqes_submitted"), 0, "{stdout}");
    }
    assert!(number(single, "timers_fired") >= 4, "{stdout}");
    assert_eq!(number(single, "ops_in_flight"), 0, "{stdout}");
    assert_eq!(number(single, "live_tasks"), 0, "{stdout}");
    assert_eq!(number(single, "msg_ring_failed"), 0, "{stdout}");

    for (title, worker) in &sections[1..] {
        assert!(number(worker, "tasks_polled") > 0, "{title}:\n{stdout}");
        assert!(number(worker, "enters") > 0, "{title}:\n{stdout}");
    }
    // Each side waits for the other in the kernel now and then, so wake-ups cross.
    let sent: u64 = sections[1..]
        .iter()
        .map(|(_, w)| number(w, "msg_ring_sent"))
        .sum();
    let remote: u64 = sections[1..]
        .iter()
        .map(|(_, w)| number(w, "remote_wakes"))
        .sum();
    assert!(remote > 0, "no task was woken across workers:\n{stdout}");
    assert_eq!(
        sent > 0,
        on_ring,
        "MSG_RING wake-ups sent: {sent}:\n{stdout}"
    );
}
