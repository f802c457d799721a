//! The workloads added to the suite after echo and http: wget at scale (the runtime as the
//! client of a local nginx farm), 1M concurrent sleeps and spawn+join of 1M tasks. They use the
//! suite's rows, repetitions, quiet-machine waits and paired ratios; this file runs them and
//! prints their two tables.

use crate::nginx::{find_nginx, NginxFarm};
use crate::report::paired;
use crate::sys::{self, field, Pin, Window};
use crate::wget;
use crate::{Case, Row, Run, Suite, SERVERS};
use std::fmt::Write as _;
use std::time::Duration;

/// Number of nginx servers (one per loopback address 127.0.0.1..=4).
const NGINX: usize = 4;

impl Suite {
    /// One wget run: a fresh nginx farm on the second CPU, the client `server` on the first.
    pub(crate) fn wget_run(&self, server: usize) -> Option<Run> {
        let kind = SERVERS[server].0;
        let nginx = find_nginx()?;
        let farm = match NginxFarm::start(&nginx, NGINX, Pin::Cpu(self.cores.load)) {
            Ok(farm) => farm,
            Err(err) => {
                eprintln!("wget: nginx did not start: {err}");
                return None;
            }
        };
        let args = [
            "wget".to_owned(),
            kind.to_owned(),
            farm.addr_list(),
            wget::INFLIGHT.to_string(),
            self.mode.warmup.as_millis().to_string(),
            self.mode.wget_window.as_millis().to_string(),
            farm.pids(),
        ];
        let limit = self.mode.warmup + self.mode.wget_window + Duration::from_secs(20);
        let out = sys::run_bounded(&args, Pin::Cpu(self.cores.server), limit);
        drop(farm);
        let Some(line) = out.stdout.lines().find(|l| l.starts_with("RESULT ")) else {
            eprintln!("wget {kind} printed no RESULT (exit ok: {})", out.ok);
            return None;
        };
        let fetches = field(line, "fetches");
        if fetches == 0.0 {
            eprintln!("wget {kind}: no fetch completed ({line})");
            return None;
        }
        let window = Window::parse(line);
        Some(Run {
            per_sec: fetches / window.secs,
            // The runtime under test is the client here: its CPU per fetch.
            server_cpu_us: window.client_cpu * 1e6 / fetches,
            core_us: window.busy(self.cores.server) * 1e6 / fetches,
            load_us: window.server_cpu * 1e6 / fetches,
            others: window.others,
            segs: window.segs / fetches,
            errors: field(line, "errors"),
            timeouts: field(line, "timeouts"),
            ..Run::default()
        })
    }

    /// One sleeps or spawn+join run of `n` tasks in a fresh process on the first CPU.
    pub(crate) fn task_run(&self, case: &str, n: usize, server: usize) -> Option<Run> {
        let kind = SERVERS[server].0;
        let args = [
            "tasks".to_owned(),
            case.to_owned(),
            kind.to_owned(),
            n.to_string(),
        ];
        let out = sys::run_bounded(&args, Pin::Cpu(self.cores.server), Duration::from_secs(90));
        let Some(line) = out.stdout.lines().find(|l| l.starts_with("RESULT ")) else {
            eprintln!("{case} {kind} printed no RESULT (exit ok: {})", out.ok);
            return None;
        };
        let wall = field(line, "wall_ns") / 1e9;
        let (hwm, base) = (field(line, "hwm_kb"), field(line, "base_kb"));
        Some(Run {
            per_sec: n as f64 / wall,
            wall_ms: wall * 1e3,
            armed_ms: field(line, "armed_ns") / 1e6,
            cpu_ms: field(line, "cpu_ns") / 1e6,
            hwm_mib: hwm / 1024.0,
            bytes_per_task: (hwm - base) * 1024.0 / n as f64,
            others: out.others.as_secs_f64() / out.wall.as_secs_f64(),
            ..Run::default()
        })
    }
}

/// The name of `row`'s runtime in these tables (coring runs one way here, no BufRing variant).
fn label(row: &Row) -> &'static str {
    match SERVERS[row.server].0 {
        "coring" => "coring",
        _ => SERVERS[row.server].2,
    }
}

/// The progress line of one run of an added workload.
pub fn log(label: &str, run: &Run, at: Duration) {
    if run.wall_ms.is_finite() {
        println!(
            "{label}: {:.1} ms (all armed at {:.1} ms, cpu {:.1} ms), {:.2} M tasks/s, peak RSS {:.1} MiB ({:.0} B/task), \
             others {:.0}%  [{:.0} s]",
            run.wall_ms,
            run.armed_ms,
            run.cpu_ms,
            run.per_sec / 1e6,
            run.hwm_mib,
            run.bytes_per_task,
            run.others * 100.0,
            at.as_secs_f64(),
        );
    } else {
        println!(
            "{label}: {:.0} fetches/s, client {:.2} µs/fetch (its core {:.2}), nginx {:.2} \
             µs/fetch, errors {:.0} (timeouts {:.0}), segs/fetch {:.1}, others {:.0}%  [{:.0} s]",
            run.per_sec,
            run.server_cpu_us,
            run.core_us,
            run.load_us,
            run.errors,
            run.timeouts,
            run.segs,
            run.others * 100.0,
            at.as_secs_f64(),
        );
    }
}

fn all_runs(row: &Row, f: impl Fn(&Run) -> String) -> String {
    row.runs
        .iter()
        .map(|run| format!("{}{}", f(run), if run.quiet() { "" } else { "*" }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The wget table and the tasks table (empty when those cases did not run).
pub fn tables(suite: &Suite) -> String {
    let mut out = String::new();
    let rows_of =
        |case: Case| -> Vec<&Row> { suite.rows.iter().filter(|r| r.case == case).collect() };
    fn find<'a>(rows: &[&'a Row], id: &str) -> Option<&'a Row> {
        rows.iter().copied().find(|r| SERVERS[r.server].0 == id)
    }
    let wget_rows = rows_of(Case::Wget);
    if !wget_rows.is_empty() {
        let _ = writeln!(
            out,
            "\nwget at scale: {} fetches in flight (connect, `GET / HTTP/1.1` + `Connection: close`, \
             response head, close; {} s timeout per fetch) against {NGINX} nginx (`worker_processes \
             1`, `master_process off`) on CPU {}; the client under test on CPU {}; {} run(s) of \
             each.\n",
            wget::INFLIGHT,
            wget::FETCH_TIMEOUT.as_secs(),
            suite.cores.load,
            suite.cores.server,
            suite.mode.added_reps.min(suite.mode.reps),
        );
        out +=
            "| workload | client | fetches/s | vs tokio | vs raw | client CPU µs/fetch | CPU vs \
                tokio | CPU vs raw | nginx CPU µs/fetch | errors (timeouts) | all runs (k/s) | \
                others |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n";
        let (tokio, raw) = (find(&wget_rows, "tokio"), find(&wget_rows, "raw"));
        for row in &wget_rows {
            let (r, disturbed) = row.headline();
            let _ = writeln!(
                out,
                "| {} | {} | {:.0}{} | {} | {} | {:.2} | {} | {} | {:.2} | {:.0} ({:.0}) | {} | \
                 {:.0}% |",
                row.case.name(),
                label(row),
                r.per_sec,
                if disturbed { " ⚠" } else { "" },
                paired(row, tokio, |r| r.per_sec),
                paired(row, raw, |r| r.per_sec),
                r.server_cpu_us,
                paired(row, tokio, |r| r.server_cpu_us),
                paired(row, raw, |r| r.server_cpu_us),
                r.load_us,
                r.errors,
                r.timeouts,
                all_runs(row, |r| format!("{:.1}", r.per_sec / 1e3)),
                r.others * 100.0,
            );
        }
    }
    let task_rows: Vec<&Row> = suite
        .rows
        .iter()
        .filter(|r| matches!(r.case, Case::Sleeps { .. } | Case::Spawn { .. }))
        .collect();
    if !task_rows.is_empty() {
        let _ = writeln!(
            out,
            "\nTasks: each run a fresh process on CPU {}; sleeps = spawn N tasks sleeping 1–1000 ms \
             (100 ms below 100k tasks; same durations for all), await all; spawn+join = spawn N \
             tasks returning a number, await them in order. Wall time from the first spawn to \
             the last join; peak RSS = `VmHWM`, B/task = (peak − RSS after the runtime was built) \
             / N; \"all armed at\" = when the last sleep was created (the wall time is at least that \
             plus the longest sleep). \"speed vs tokio\" = tokio's wall / this wall, paired; {} run(s) of each.\n",
            suite.cores.server,
            suite.mode.added_reps.min(suite.mode.reps),
        );
        out += "| workload | runtime | wall ms | speed vs tokio | all armed at ms | CPU ms | peak RSS \
                MiB | RSS vs tokio | B/task | all runs (ms) | others |\n\
                |---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n";
        let mut cases: Vec<Case> = Vec::new();
        for row in &task_rows {
            if !cases.contains(&row.case) {
                cases.push(row.case);
            }
        }
        for case in cases {
            let rows = rows_of(case);
            let tokio = find(&rows, "tokio");
            for row in &rows {
                let (r, disturbed) = row.headline();
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1}{} | {} | {} | {:.1} | {:.1} | {} | {:.0} | {} | {:.0}% |",
                    case.name(),
                    label(row),
                    r.wall_ms,
                    if disturbed { " ⚠" } else { "" },
                    paired(row, tokio, |r| r.per_sec),
                    if r.armed_ms > 0.0 {
                        format!("{:.1}", r.armed_ms)
                    } else {
                        "–".to_owned()
                    },
                    r.cpu_ms,
                    r.hwm_mib,
                    paired(row, tokio, |r| r.hwm_mib),
                    r.bytes_per_task,
                    all_runs(row, |r| format!("{:.0}", r.wall_ms)),
                    r.others * 100.0,
                );
            }
        }
    }
    out
}
