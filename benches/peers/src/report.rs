//! The suite's markdown report: the table, the paired ratios and the versions it names.

use crate::flags::PeerFlags;
use crate::{added, Case, Row, Run, Suite, SERVERS};
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

impl Suite {
    /// The markdown report: one table with a row per case and server.
    pub fn table(&self, versions: &Versions, took: Duration) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Peer suite, {} mode ({} s windows, {} runs of each; req/s, CPU and p99 from the median \
             run among those that other processes left alone, `*` marks a disturbed run, ⚠ a row \
             with no undisturbed run; ratios are the median over repetitions of the ratio to the \
             reference's run of the same repetition, measured seconds apart), kernel {}, {}; took \
             {:.0} s.\n",
            self.mode.name,
            self.mode.window.as_secs_f64(),
            self.mode.reps,
            kernel_release(),
            versions.line(),
            took.as_secs_f64(),
        );
        let _ = writeln!(out, "{}\n", flags_line(self.peer_flags));
        out += "One coring row per table is coring's default configuration; the rows labelled \
                \"coring variant (opt-in)\" need a call a user makes on purpose (a `BufRing`, \
                `Builder::completion_batch`) and are shown for reference: every \"vs coring\" \
                ratio is against the default row, never a variant.\n\n";
        if !self.rows.iter().any(|r| r.case.is_server()) {
            out += "(no network-server case ran)\n";
            out += &added::tables(self);
            for note in &self.notes {
                let _ = writeln!(out, "\nnote: {note}");
            }
            return out;
        }
        out += "| workload | server | req/s | vs tokio | vs raw | vs coring | server CPU µs/req \
                | CPU vs tokio | CPU vs raw | CPU vs coring | p99 µs | syscalls/req | \
                io_uring_enter/req | all runs (k req/s) | others |\n\
                |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n";
        let mut cases: Vec<Case> = Vec::new();
        for row in self.rows.iter().filter(|r| r.case.is_server()) {
            if !cases.contains(&row.case) {
                cases.push(row.case);
            }
        }
        for case in cases {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.case == case).collect();
            let case = case.name();
            let find = |id: &str| rows.iter().copied().find(|r| SERVERS[r.server].0 == id);
            let (tokio, raw, coring) = (find("tokio"), find("raw"), find("coring"));
            for row in rows {
                let (r, disturbed) = row.headline();
                let all = row
                    .runs
                    .iter()
                    .map(|run| {
                        let mark = if run.quiet() { "" } else { "*" };
                        format!("{:.0}{mark}", run.per_sec / 1e3)
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                let flag = if disturbed { " ⚠" } else { "" };
                let _ = writeln!(
                    out,
                    "| {case} | {} | {:.0}{flag} | {} | {} | {} | {:.2} | {} | {} | {} | {:.0} | {} | \
                     {} | {all} | {:.0}% |",
                    SERVERS[row.server].2,
                    r.per_sec,
                    paired(row, tokio, |r| r.per_sec),
                    paired(row, raw, |r| r.per_sec),
                    paired(row, coring, |r| r.per_sec),
                    r.server_cpu_us,
                    paired(row, tokio, |r| r.server_cpu_us),
                    paired(row, raw, |r| r.server_cpu_us),
                    paired(row, coring, |r| r.server_cpu_us),
                    r.p99_us,
                    opt(row.syscalls.map(|s| s.0), 2),
                    opt(row.syscalls.map(|s| s.1), 3),
                    r.others * 100.0,
                );
            }
        }
        out += &added::tables(self);
        for note in &self.notes {
            let _ = writeln!(out, "\nnote: {note}");
        }
        out
    }
}

/// The ring flags of every io_uring server in this run, for the log and the report.
pub fn flags_line(flags: PeerFlags) -> String {
    let mut out = format!("ring flags (--peer-flags {flags}):");
    for (i, id) in [
        "coring",
        "raw",
        "monoio",
        "compio",
        "tokio-uring",
        "glommio",
    ]
    .iter()
    .enumerate()
    {
        let sep = if i == 0 { " " } else { "; " };
        let _ = write!(out, "{sep}{id} {}", flags.of(id));
    }
    out
}

/// Versions of the runtimes (from this crate's Cargo.lock) and coring's commit.
pub struct Versions {
    crates: Vec<(&'static str, String)>,
    coring_commit: String,
    rustc: String,
}

impl Versions {
    pub fn read() -> Versions {
        let dir = env!("CARGO_MANIFEST_DIR");
        let lock = std::fs::read_to_string(format!("{dir}/Cargo.lock")).unwrap_or_default();
        let version = |name: &str| {
            lock.split("[[package]]")
                .filter(|p| p.contains(&format!("name = \"{name}\"\n")))
                .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
                .map(|v| v.trim_matches('"').to_owned())
                .max_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)))
                .unwrap_or_else(|| "?".to_owned())
        };
        let crates = [
            "tokio",
            "monoio",
            "compio",
            "glommio",
            "tokio-uring",
            "io-uring",
        ]
        .into_iter()
        .map(|c| (c, version(c)))
        .collect();
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(format!("{dir}/../.."))
                .args(args)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        let mut coring_commit = git(&["rev-parse", "--short", "HEAD"]);
        if !git(&["status", "--porcelain", "--", "src", "Cargo.toml"]).is_empty() {
            coring_commit += "+dirty src";
        }
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Versions {
            crates,
            coring_commit,
            rustc,
        }
    }

    pub fn line(&self) -> String {
        let mut out = format!("coring {}", self.coring_commit);
        for (name, version) in &self.crates {
            let _ = write!(out, ", {name} {version}");
        }
        if !self.rustc.is_empty() {
            let _ = write!(out, ", {}", self.rustc);
        }
        out
    }
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// `f(row) / f(reference)` run by run (the runs of one repetition were measured seconds apart,
/// so slow phases of the machine hit both), median over the repetitions where both runs were
/// undisturbed (over all of them if there is none).
pub fn paired(row: &Row, reference: Option<&Row>, f: impl Fn(&Run) -> f64) -> String {
    let Some(reference) = reference else {
        return "–".to_owned();
    };
    let pairs: Vec<(&Run, &Run)> = row.runs.iter().zip(&reference.runs).collect();
    let quiet: Vec<(&Run, &Run)> = pairs
        .iter()
        .copied()
        .filter(|(a, b)| a.quiet() && b.quiet())
        .collect();
    let mut ratios: Vec<f64> = if quiet.is_empty() { pairs } else { quiet }
        .into_iter()
        .map(|(a, b)| f(a) / f(b))
        .filter(|r| r.is_finite())
        .collect();
    if ratios.is_empty() {
        return "–".to_owned();
    }
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let median = if n % 2 == 1 {
        ratios[n / 2]
    } else {
        (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
    };
    format!("{median:.2}×")
}

pub fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}
