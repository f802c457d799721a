//! `wrk` as the HTTP load generator of `benches/net` and `benches/peers` (both include this file
//! with `#[path]`): one pinned run, its requests, rate, p50/p99 and CPU time.

// Each includer reads a different part of a run.
#![allow(dead_code)]

use crate::cpu::{wait_with_cpu, Pin};
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What one `wrk` run measured.
pub(crate) struct WrkRun {
    pub(crate) requests: f64,
    pub(crate) per_sec: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) errors: String,
    /// wrk's own CPU time.
    pub(crate) cpu: Duration,
}

/// One `wrk` run of `secs` seconds with `conns` connections, pinned as `pin` says; `None` (after
/// saying why) if wrk is missing or failed.
pub(crate) fn wrk_run(port: u16, conns: usize, secs: u64, pin: Pin) -> Option<WrkRun> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1".to_owned(),
        format!("-c{conns}"),
        format!("-d{secs}s"),
        "--latency".to_owned(),
        format!("http://127.0.0.1:{port}/"),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = pin.spawn(&mut cmd).ok()?;
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("wrk stdout")
        .read_to_string(&mut text)
        .ok()?;
    let (success, cpu) = wait_with_cpu(child);
    if !success {
        eprintln!("wrk failed: {text}");
        return None;
    }
    let mut run = WrkRun {
        requests: f64::NAN,
        per_sec: f64::NAN,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        errors: String::new(),
        cpu,
    };
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            run.per_sec = rest.trim().parse().unwrap_or(f64::NAN);
        } else if line.contains(" requests in ") {
            run.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(f64::NAN);
        } else if let Some(rest) = line.strip_prefix("50%") {
            run.p50_us = wrk_micros(rest.trim());
        } else if let Some(rest) = line.strip_prefix("99%") {
            run.p99_us = wrk_micros(rest.trim());
        } else if line.starts_with("Socket errors") || line.starts_with("Non-2xx") {
            run.errors += line;
        }
    }
    Some(run)
}

/// A wrk duration such as `812.00us`, `1.23ms` or `2.00s`, in microseconds.
pub(crate) fn wrk_micros(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let value: f64 = text[..split].parse().unwrap_or(f64::NAN);
    match &text[split..] {
        "us" => value,
        "ms" => value * 1e3,
        "s" => value * 1e6,
        "m" => value * 60e6,
        _ => f64::NAN,
    }
}
